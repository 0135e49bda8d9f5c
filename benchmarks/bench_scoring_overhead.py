"""Throughput of a generated minimal project against a bare azmlinfsrv, printed as a ratio.

    python benchmarks/bench_scoring_overhead.py [--runs N] [--seconds S] [--concurrency C]

Needs a Docker Engine and the minimal stand-in base image (tests/standins/build.py).

Both sides use the same image (the generated project's, built by scaffold), the same
load engine (scaffold.loadtest's choice: wrk when installed) and the same concurrency, on
127.0.0.1, without the front-end emulation:

- generated: the project as `scaffold run` starts it (its score.py and sample model, its
  sample request);
- bare: `docker run` of that image with a trivial score.py (init() does nothing, run()
  returns a constant) mounted instead, sent the same request.

Target: generated >= 0.95x bare (the generated scoring code costs next to nothing).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from _timing import bare_container

REPO = Path(__file__).resolve().parents[1]
TRIVIAL_SCORE = """def init():
    pass


def run(raw_data):
    return {"predictions": [0.0]}
"""


def _rps(url: str, body: bytes, concurrency: int, seconds: float) -> float:
    from scaffold.loadtest import run_levels

    levels, _ = run_levels(
        url,
        body,
        levels=[concurrency],
        seconds_per_level=seconds,
        max_requests_per_level=1_000_000,
        request_timeout_ms=5000,
        refine=False,
    )
    level = levels[0]
    if level.failed:
        raise RuntimeError(f"{level.failed} of {level.requests} requests failed: {level.errors}")
    return level.rps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "tests" / "standins"))
    from build import ensure_image  # type: ignore[import-not-found]

    from scaffold.generate import new_project
    from scaffold.localrun import LocalDeployment

    work = Path(tempfile.mkdtemp(prefix="scaffold-bench-load-"))
    project = work / "minimal-load"
    new_project(
        project, {"server": "minimal", "base_image": ensure_image("minimal")}, git_init=False
    )
    trivial = work / "trivial"
    trivial.mkdir()
    (trivial / "score.py").write_text(TRIVIAL_SCORE)
    body = (project / "sample_request.json").read_bytes()

    deployment = LocalDeployment(project)
    plan = deployment.plan
    code_target = next(str(m.target) for m in plan.mounts if m.target.name == "src")
    bare_mounts = [(m.source, str(m.target)) for m in plan.mounts if str(m.target) != code_target]
    bare_mounts.append((trivial, code_target))
    generated, bare = [], []
    # Both containers up at once, measured in turn, so a change in the machine's load
    # (it is shared) hits both sides alike.
    with deployment.ready(), bare_container(plan, deployment.tag, bare_mounts) as base:
        sides = ((deployment.url(plan.scoring), generated), (base + plan.scoring.path, bare))
        for url, _ in sides:
            _rps(url, body, args.concurrency, 1.0)  # warm-up
        for _ in range(args.runs):
            for url, rates in sides:
                rates.append(_rps(url, body, args.concurrency, args.seconds))
    g, b = statistics.median(generated), statistics.median(bare)
    print(f"{'side':<10} {'req/s (median of ' + str(args.runs) + ')':>24}")
    print(f"{'generated':<10} {g:>24.1f}")
    print(f"{'bare':<10} {b:>24.1f}")
    print(f"ratio generated/bare: {g / b:.2f}x (target >= 0.95x; concurrency {args.concurrency})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
