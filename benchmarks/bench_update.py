"""`scaffold update` against `copier update` on the same project, as a ratio of medians.

    python benchmarks/bench_update.py [--runs N]

A local template repository is tagged v1.0.0 and v1.1.0; a plumber project made from v1.0.0
(with a user edit committed) is reset before every run, then updated to v1.1.0 by each tool.
scaffold also plans the update (tags with their commits, the changelog, declared renames,
the target version's questions), checks the tree is clean beforehand, and afterwards scans
for conflicts and runs the lost-edit check, which renders the old template version once
more (one extra copier render: the largest part of the difference).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import median_seconds

REPO = Path(__file__).resolve().parents[1]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def timed(command: list[str], project: Path, base: str, runs: int) -> float:
    def reset() -> None:
        git(project, "reset", "--hard", "-q", base)
        git(project, "clean", "-fdq")

    return median_seconds(command, runs, before=reset, cwd=project)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scaffold-bench-update-"))
    os.environ.setdefault("GIT_AUTHOR_NAME", "bench")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "bench@example.invalid")
    os.environ.setdefault("GIT_COMMITTER_NAME", "bench")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "bench@example.invalid")
    os.environ["SCAFFOLD_CACHE_DIR"] = str(work / "cache")
    try:
        template = work / "template"
        shutil.copytree(REPO / "templates", template)
        git(template, "init", "-q")
        git(template, "add", "-A")
        git(template, "commit", "-qm", "v1.0.0")
        git(template, "tag", "v1.0.0")
        project = work / "bench-ep"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "scaffold",
                "new",
                "-q",
                "--server",
                "plumber",
                "--template",
                str(template),
                str(project),
            ],
            check=True,
            capture_output=True,
        )
        deployment = project / "deployment.yml"
        deployment.write_text(
            deployment.read_text().replace("instance_count: 1", "instance_count: 2")
        )
        git(project, "commit", "-qam", "user edit")
        base = git(project, "rev-parse", "HEAD").strip()
        gitignore = template / "_shared" / "gitignore.jinja"
        gitignore.write_text(gitignore.read_text() + "*.tmp\n")
        git(template, "commit", "-qam", "v1.1.0")
        git(template, "tag", "v1.1.0")

        copier = timed(
            [sys.executable, "-m", "copier", "update", "--defaults", "--quiet"],
            project,
            base,
            args.runs,
        )
        scaffold = timed(
            [sys.executable, "-m", "scaffold", "update", "-q", "."], project, base, args.runs
        )
        print(f"copier update    {copier * 1000:8.1f} ms")
        print(
            f"scaffold update  {scaffold * 1000:8.1f} ms   ratio {scaffold / copier:5.2f}x  "
            "(adds planning, conflict scan and the lost-edit check)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
