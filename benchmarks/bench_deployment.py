"""`scaffold deployment add` against plain `copier copy --answers-file` of the same deployment,
as a ratio of medians.

    python benchmarks/bench_deployment.py [--runs N]

A minimal project is made from a local template repository (tagged v1.0.0) and committed;
before every run it is reset. The anchor renders the deployment `green` exactly as
`scaffold deployment add green` does (`_deployment/minimal/`, `.copier-answers.green.yml`,
the project's answers plus the deployment's); scaffold also checks the name and the paths,
renders the source deployment as generated to carry its hand edits over (a second copier
render, when deployment.yml was edited: it is here), and moves the files into place. The
`--own-folders` variant also copies the model, code and samples.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from _timing import median_seconds

REPO = Path(__file__).resolve().parents[1]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scaffold-bench-deployment-"))
    for key, value in {
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }.items():
        os.environ.setdefault(key, value)
    os.environ["SCAFFOLD_CACHE_DIR"] = str(work / "cache")
    try:
        template = work / "template"
        shutil.copytree(REPO / "templates", template)
        git(template, "init", "-q")
        git(template, "add", "-A")
        git(template, "commit", "-qm", "v1.0.0")
        git(template, "tag", "v1.0.0")
        project = work / "bench-ep"
        scaffold = [sys.executable, "-m", "scaffold"]
        new = [*scaffold, "new", "--server", "minimal", "--template", str(template)]
        subprocess.run([*new, str(project)], check=True, capture_output=True)
        deployment = project / "deployment.yml"
        edited = deployment.read_text().replace("instance_count: 1", "instance_count: 3")
        deployment.write_text(edited)
        git(project, "commit", "-qam", "an edit by hand")
        base = git(project, "rev-parse", "HEAD").strip()

        def reset() -> None:
            git(project, "reset", "--hard", "-q", base)
            git(project, "clean", "-fdq")

        answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
        data = {k: v for k, v in answers.items() if not k.startswith("_")}
        data.update(deployment_name="green", deployment_file="green-deployment.yml")
        (work / "green.yml").write_text(yaml.safe_dump(data))
        copier = [str(Path(sys.executable).parent / "copier"), "copy", "--defaults", "--quiet"]
        copier += ["--answers-file", ".copier-answers.green.yml", "--vcs-ref", "v1.0.0"]
        copier += ["--data-file", str(work / "green.yml"), str(template), str(project)]
        add = [*scaffold, "deployment", "add", "green", str(project)]
        anchor = median_seconds(copier, args.runs, before=reset)
        shared = median_seconds(add, args.runs, before=reset)
        own = median_seconds([*add, "--own-folders"], args.runs, before=reset)
        print(f"copier copy -a (anchor)             {anchor:.2f}s")
        print(f"scaffold deployment add             {shared:.2f}s  ratio {shared / anchor:.2f}x")
        print(f"scaffold deployment add --own-folders {own:.2f}s  ratio {own / anchor:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
