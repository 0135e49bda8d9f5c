"""Benchmarks of the CLI against its anchors, printed as ratios of medians.

    python benchmarks/bench_cli.py [--runs N]

- `scaffold --help` (the installed console script) vs `python -c pass` on the same
  interpreter (target: within 5x).
- `scaffold new --defaults --no-git` vs `copier copy --defaults` of the same template at the
  same version (target: within 1.10x). `new` with its default git init is shown too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _timing import median_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    from scaffold.template_source import materialise_bundled

    work = Path(tempfile.mkdtemp(prefix="scaffold-bench-"))
    try:
        bare = median_seconds([sys.executable, "-c", "pass"], args.runs * 2)
        # The installed console script, on the same interpreter (what users type).
        script = Path(sys.executable).parent / "scaffold"
        helped = median_seconds([str(script), "--help"], args.runs * 2)
        print(f"python -c pass        {bare * 1000:8.1f} ms")
        print(
            f"scaffold --help       {helped * 1000:8.1f} ms   ratio {helped / bare:5.2f}x  "
            "(target <= 5x)"
        )

        ref = materialise_bundled()  # warm: both sides then clone the same local repository
        dest = work / "bench-ep"

        def clean() -> None:
            shutil.rmtree(dest, ignore_errors=True)

        copier = median_seconds(
            [
                sys.executable,
                "-m",
                "copier",
                "copy",
                "--quiet",
                "--defaults",
                "--vcs-ref",
                str(ref.ref),
                "--data",
                "server=plumber",
                ref.url,
                str(dest),
            ],
            args.runs,
            before=clean,
        )
        new = median_seconds(
            [
                sys.executable,
                "-m",
                "scaffold",
                "new",
                "-q",
                "--server",
                "plumber",
                "--defaults",
                "--no-git",
                str(dest),
            ],
            args.runs,
            before=clean,
        )
        new_git = median_seconds(
            [
                sys.executable,
                "-m",
                "scaffold",
                "new",
                "-q",
                "--server",
                "plumber",
                "--defaults",
                str(dest),
            ],
            args.runs,
            before=clean,
        )
        print(f"copier copy           {copier * 1000:8.1f} ms")
        print(
            f"scaffold new --no-git {new * 1000:8.1f} ms   ratio {new / copier:5.2f}x  "
            "(target <= 1.10x)"
        )
        print(
            f"scaffold new (+git)   {new_git * 1000:8.1f} ms   ratio {new_git / copier:5.2f}x  "
            "(includes git init + first commit)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
