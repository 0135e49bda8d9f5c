"""scaffold loadtest's figures against plain wrk's, on the same container, side by side.

    python benchmarks/bench_loadtest.py [--runs N] [--seconds S] [--no-frontend]
                                        [--engines auto,lean]

Needs a Docker Engine, the minimal stand-in base image (tests/standins/build.py) and wrk
(`apt-get install wrk`; scripts/bootstrap.sh installs it).

One generated minimal project (one azmlinfsrv worker) runs as `scaffold loadtest` runs it:
the CPU and memory of its instance type, pinned to the last CPU, the client on the others,
behind the Azure front-end emulation (--no-frontend: the raw container). At concurrency 1, 4
and 16, interleaved run by run so that the machine's other load hits every side alike:

- wrk: plain `wrk -t1 -cC -dSs --latency -s post.lua` (a four-line POST script), pinned to the
  client CPUs, through the same path (front end or raw);
- scaffold (auto): scaffold.loadtest's own measurement of a level with the engine it picks
  (wrk when installed), including its Lua script, CPU accounting and server metering;
- scaffold (lean): the same with the lean engine, scaffold's fallback without wrk or hey.

Printed: median req/s and p50 per side and concurrency, the median over runs of each run's
ratio to the wrk run beside it (targets: throughput >= 0.9x, p50 <= 1.2x), and the
recommendation each side's 1/4/16 curve gives by scaffold's rule (smallest concurrency
within 90% of the best): they should agree. A shared machine's load moves every figure; the
load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEVELS = (1, 4, 16)
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_P50 = re.compile(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def plain_wrk(
    url: str, body: Path, headers: dict[str, str], concurrency: int, seconds: int, cpus: str
) -> tuple[float, float]:
    """(req/s, p50 ms) from wrk's own report; the Lua script sets only method, body, headers."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder, "post.lua")
        lines = ['wrk.method = "POST"', f'local f = io.open("{body}", "rb")']
        lines += ["wrk.body = f:read('*a')", "f:close()"]
        lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
        script.write_text("\n".join(lines) + "\n")
        argv = ["taskset", "-c", cpus, "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s"]
        argv += ["--latency", "-s", str(script), url]
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300).stdout
    if (bad := _NON_2XX.search(out)) and int(bad[1]):
        raise RuntimeError(f"wrk saw {bad[1]} error answers:\n{out}")
    rps = float(_RPS.search(out)[1])  # type: ignore[index]
    value, unit = _P50.search(out).groups()  # type: ignore[union-attr]
    return rps, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--no-frontend", action="store_true")
    parser.add_argument("--engines", default="auto,lean")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "tests" / "standins"))
    from build import ensure_image  # type: ignore[import-not-found]

    from scaffold import loadengine
    from scaffold.generate import new_project
    from scaffold.loadtest import PROFILES, Meters, front_end, measure, recommend
    from scaffold.localrun import LocalDeployment, clean

    work = Path(tempfile.mkdtemp(prefix="scaffold-bench-wrk-"))
    project = work / "bench-wrk"
    new_project(
        project, {"server": "minimal", "base_image": ensure_image("minimal")}, git_init=False
    )
    body_file = project / "sample_request.json"
    body = body_file.read_bytes()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    sides = ["wrk", *(f"scaffold ({e})" for e in engines)]
    rps: dict[tuple[str, int], list[float]] = {}
    p50: dict[tuple[str, int], list[float]] = {}
    deployment = LocalDeployment(project, separate_client=True)
    resources = deployment.resources
    cpus = ",".join(map(str, resources.client_cpus)) or "0"
    try:
        with (
            deployment.ready(),
            front_end(
                deployment,
                enabled=not args.no_frontend,
                lift_limit=True,
                client_cpus=resources.client_cpus,
            ) as (base, headers, front),
        ):
            url = base + deployment.plan.scoring.path
            all_headers = {"Content-Type": "application/json", **headers}
            request = loadengine.Request(
                url,
                "POST",
                body,
                tuple(all_headers.items()),
                frozenset({"authorization"}) if headers else frozenset(),
            )
            meters = Meters(
                server_cpu=deployment.cpu_seconds,
                frontend=front,
                client_cpus=resources.client_cpus,
                server_cpus=tuple(int(c) for c in resources.cpuset.split(",") if c),
            )
            plain_wrk(url, body_file, all_headers, 4, 1, cpus)  # warm-up

            def one(side: str, concurrency: int) -> None:
                if side == "wrk":
                    got = plain_wrk(url, body_file, all_headers, concurrency, args.seconds, cpus)
                else:
                    engine = side[len("scaffold (") : -1]
                    chosen, _ = loadengine.choose(engine, request, loadengine.Load(1, 1, 5))
                    load = loadengine.Load(args.seconds, 10_000_000, 5.0, concurrency)
                    level = measure(chosen, request, load, meters, profile=PROFILES["json"])
                    if level.failed:
                        raise RuntimeError(f"{side}: {level.failed} failed: {level.errors}")
                    got = (level.rps, level.latency.p50)
                rps.setdefault((side, concurrency), []).append(got[0])
                p50.setdefault((side, concurrency), []).append(got[1])

            for run in range(args.runs):
                for concurrency in LEVELS:
                    # every side beside the others, the order turned every other run
                    for side in sides if run % 2 == 0 else sides[::-1]:
                        one(side, concurrency)
    finally:
        clean(project)
        shutil.rmtree(work, ignore_errors=True)

    path = "raw container" if args.no_frontend else "through the front-end emulation"
    print(f"machine load average (1/5/15 min) at the end: {os.getloadavg()}")
    print(
        f"minimal project, one azmlinfsrv worker, {path}; server on CPU {resources.cpuset}, "
        f"client on CPU {cpus}; medians of {args.runs} interleaved {args.seconds}s runs"
    )
    print(f"{'side':<17} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'x wrk req/s':>12} {'x wrk p50':>10}")
    worst_rps: dict[str, float] = {}
    worst_p50: dict[str, float] = {}
    for side in sides:
        for concurrency in LEVELS:
            r = statistics.median(rps[(side, concurrency)])
            p = statistics.median(p50[(side, concurrency)])
            # the median of each run's ratio to the wrk run beside it: the machine's load
            # drifts between runs much more than within one
            pairs = zip(rps[(side, concurrency)], rps[("wrk", concurrency)], strict=True)
            rr = statistics.median(a / b for a, b in pairs)
            pairs = zip(p50[(side, concurrency)], p50[("wrk", concurrency)], strict=True)
            pr = statistics.median(a / b for a, b in pairs)
            print(f"{side:<17} {concurrency:>3} {r:>9.1f} {p:>8.2f} {rr:>11.2f}x {pr:>9.2f}x")
            worst_rps[side] = min(worst_rps.get(side, 9.9), rr)
            worst_p50[side] = max(worst_p50.get(side, 0.0), pr)

    from scaffold.loadengine import Latency
    from scaffold.loadtest import LevelResult

    def advice(side: str) -> int:
        levels = [
            LevelResult(
                c,
                1,
                1,
                1.0 / statistics.median(rps[(side, c)]),
                latency=Latency(*([statistics.median(p50[(side, c)])] * 5)),
            )
            for c in LEVELS
        ]
        found = recommend(levels, request_timeout_ms=5000, target_rps=None)
        return found.max_concurrent_requests_per_instance if found else 0

    reference = advice("wrk")
    print(f"recommended max_concurrent_requests_per_instance: wrk's curve {reference}")
    for side in sides[1:]:
        mine = advice(side)
        verdict = "agrees" if mine == reference else "DIFFERS"
        print(
            f"  {side}: {mine} ({verdict}); throughput >= {worst_rps[side]:.2f}x wrk "
            f"(target >= 0.9x), p50 <= {worst_p50[side]:.2f}x wrk (target <= 1.2x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
