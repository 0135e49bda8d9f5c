"""Benchmarks of the inner loop (`scaffold run`), printed as ratios of medians.

    python benchmarks/bench_run.py [--runs N] [--servers plumber,minimal,...]

Needs a Docker Engine and the stand-in base images (tests/standins/build.py builds them).

- Edit-and-rerun: a second `scaffold run` after editing only the scoring code (the
  mounted code folder, or the mounted model where the code lives in it) against that same
  run's container start + readiness + smoke test, i.e. its cost without the build (target:
  within 1.5x: no layer is rebuilt).
- Overhead: `scaffold run --no-smoke` (validate, cached build, start, probes, remove) to
  ready against a bare `docker run` of the same image with the same mounts and variables,
  polled on the same readiness route, then `docker rm -f` (target: within 1.2x).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _timing import bare_container, median_seconds

REPO = Path(__file__).resolve().parents[1]
RUNNABLE = ("plumber", "minimal", "torchserve", "triton")  # TF Serving cannot run here


def _standin(server: str) -> str:
    sys.path.insert(0, str(REPO / "tests" / "standins"))
    from build import ensure_image  # type: ignore[import-not-found]

    return str(ensure_image(server))


def _edit_scoring_code(project: Path) -> None:
    """Touch the last mounted folder's newest file (the code folder, else the model)."""
    from scaffold.project import load_plan

    mounted = load_plan(project).mounts[-1].source
    files = [p for p in mounted.rglob("*") if p.is_file()] if mounted.is_dir() else [mounted]
    target = max(files, key=lambda p: p.stat().st_mtime)
    if target.suffix in {".py", ".R"}:
        target.write_text(target.read_text() + "\n# edited by bench_run.py\n")
    else:
        target.touch()


def _edit_and_rerun(project: Path, runs: int) -> tuple[float, float]:
    """(median total of a re-run after an edit, median start+ready+smoke of those runs)."""
    from scaffold.localrun import run_project

    run_project(project)  # warm: the image exists, as after a first run
    totals, without_build = [], []
    for _ in range(runs):
        _edit_scoring_code(project)
        start = time.perf_counter()
        result = run_project(project)
        totals.append(time.perf_counter() - start)
        t = result.timings
        without_build.append(t.start + t.ready + t.smoke)
        assert result.cached, "a layer was rebuilt after editing mounted code only"
    return statistics.median(totals), statistics.median(without_build)


def _bare_docker_run(project: Path) -> None:
    """docker run the project's image with Azure's mounts and variables; poll readiness."""
    from scaffold.localrun import image_tag
    from scaffold.project import load_plan

    plan = load_plan(project)
    with bare_container(plan, image_tag(plan)):
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--servers", default=",".join(RUNNABLE))
    args = parser.parse_args()

    from scaffold.generate import new_project

    work = Path(tempfile.mkdtemp(prefix="scaffold-bench-run-"))
    scaffold = [str(Path(sys.executable).parent / "scaffold")]
    print(
        f"{'server':<11} {'re-run':>8} {'no-build':>9} {'ratio':>6}   "
        f"{'run':>7} {'bare':>7} {'ratio':>6}"
    )
    for server in args.servers.split(","):
        project = work / f"{server}-bench"
        new_project(project, {"server": server, "base_image": _standin(server)}, git_init=False)
        rerun, no_build = _edit_and_rerun(project, args.runs)
        ready = median_seconds([*scaffold, "run", "--no-smoke", str(project)], args.runs)
        bare = statistics.median(
            _timed(lambda p=project: _bare_docker_run(p)) for _ in range(args.runs)
        )
        print(
            f"{server:<11} {rerun:7.2f}s {no_build:8.2f}s {rerun / no_build:5.2f}x   "
            f"{ready:6.2f}s {bare:6.2f}s {ready / bare:5.2f}x"
        )
    print("targets: re-run after a code edit <= 1.5x its no-build part; run <= 1.2x bare")
    return 0


def _timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
