"""`validate_project` on a generated project, without and with the azure-ai-ml schema step,
and on projects with several deployments without the SDK.

    python benchmarks/bench_validate.py [--runs N] [--server plumber]

Each run is a fresh process (what `scaffold validate` costs): interpreter start, imports and
the checks. Prints the median wall time of each mode, the median time of the call itself
(measured inside the process), and the ratio with/without. The SDK-free checks are meant to
stay well under a second; the schema step is dominated by importing azure.ai.ml (~3 s).

Several deployments: the generated project with four more deployment files beside
deployment.yml (blue, green, canary, shadow: each found, paired with endpoint.yml and
validated with its Dockerfile and contract), and the corpus's copy of Microsoft's
managed/sample folder (six deployment files); target well under a second each, and the ratio
to the single-deployment project.

A repository of samples: the whole corpus (tests/corpus, dozens of projects) validated as one
folder, as when validate runs at the root of Azure/azureml-examples: the tree is walked once
per validation (scaffold.layout.scan), not once per deployment; target about a second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """\
import json, sys, time
from pathlib import Path
start = time.perf_counter()
from scaffold.validate import validate_project
report = validate_project(Path(sys.argv[1]), schema=sys.argv[2] == "1")
print(json.dumps({"call": time.perf_counter() - start, "schema": report.schema_checked,
                  "problems": len(report.problems), "deployments": len(report.deployments)}))
"""


def run(project: Path, schema: bool, runs: int) -> tuple[float, float, dict[str, object]]:
    """Median wall and in-process seconds over `runs` fresh processes, and the last result."""
    walls, calls, last = [], [], {}
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(project), "1" if schema else "0"],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        walls.append(time.perf_counter() - start)
        last = json.loads(out)
        calls.append(float(last["call"]))
    return statistics.median(walls), statistics.median(calls), last


def several(project: Path) -> Path:
    """The generated project with four more deployments beside deployment.yml."""
    text = (project / "deployment.yml").read_text(encoding="utf-8")
    for name in ("blue", "green", "canary", "shadow"):
        renamed = text.replace('name: "blue"', f'name: "{name}-2"', 1)
        (project / f"{name}-deployment.yml").write_text(renamed, encoding="utf-8")
    return project


CORPUS_SAMPLE = REPO / "tests/corpus/aml-managed-sample/cli/endpoints/online/managed/sample"
CORPUS = REPO / "tests/corpus"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--server", default="plumber")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from scaffold.generate import new_project

    with tempfile.TemporaryDirectory(prefix="scaffold-bench-") as work:
        project = new_project(Path(work) / "bench-ep", {"server": args.server}, git_init=False).path
        bare = statistics.median(_time([sys.executable, "-c", "pass"]) for _ in range(args.runs))
        fast_wall, fast_call, fast = run(project, False, args.runs)
        full_wall, full_call, full = run(project, True, args.runs)
        many_wall, many_call, many = run(several(project), False, args.runs)
        sample_wall, sample_call, sample = run(CORPUS_SAMPLE, False, args.runs)
        corpus_wall, corpus_call, corpus = run(CORPUS, False, args.runs)
    if not full["schema"]:
        print("azure-ai-ml is not installed: the schema step did not run")
    print(f"{args.server} project, {args.runs} runs each (median)")
    print(f"python -c pass            wall {bare * 1000:8.1f} ms")
    print(
        f"validate, no SDK          wall {fast_wall * 1000:8.1f} ms   "
        f"import + checks {fast_call * 1000:7.1f} ms   problems {fast['problems']}"
    )
    print(
        f"validate, with SDK        wall {full_wall * 1000:8.1f} ms   "
        f"import + checks {full_call * 1000:7.1f} ms   problems {full['problems']}"
    )
    print(
        f"ratio with/without SDK    wall {full_wall / fast_wall:5.1f}x   "
        f"in-process {full_call / fast_call:5.1f}x"
    )
    print("several deployments, without the SDK:")
    print(
        f"  5 deployments           wall {many_wall * 1000:8.1f} ms   "
        f"import + checks {many_call * 1000:7.1f} ms   deployments {many['deployments']}"
    )
    print(
        f"  managed/sample (6)      wall {sample_wall * 1000:8.1f} ms   "
        f"import + checks {sample_call * 1000:7.1f} ms   deployments {sample['deployments']}"
    )
    print(
        f"ratio 5 deployments / 1   wall {many_wall / fast_wall:5.1f}x   "
        f"in-process {many_call / fast_call:5.1f}x"
    )
    print(
        f"  the corpus as one repo  wall {corpus_wall * 1000:8.1f} ms   "
        f"import + checks {corpus_call * 1000:7.1f} ms   deployments {corpus['deployments']}"
    )
    return 0


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
