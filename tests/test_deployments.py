"""Several deployments of one project: `scaffold deployment add/list`, `--deployment` on run,
serve, loadtest and deploy, updates with one copier answers file per deployment (scaffold
update and plain `copier update -a`), and in Docker Microsoft's mlflow multideployment case:
two MLflow models with different Python requirements behind one endpoint, each built and
smoke-tested."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_azure import WS_FLAGS, ArmStandin, arm, azure  # noqa: F401 - fixtures

from conftest import SERVERS, files_of, git, run_project_tests
from scaffold.cli import main
from scaffold.deployments import (
    add_deployment,
    list_deployments,
    select,
    smoke_arguments,
    validate_one,
)
from scaffold.errors import ExitCode, ProjectError, UsageError
from scaffold.generate import new_project
from scaffold.project import load_plan
from scaffold.validate import validate_project

COPIER = Path(sys.executable).parent / "copier"


def _project(
    tmp_path: Path, server: str = "minimal", name: str = "multi-ep", **answers: Any
) -> Path:
    return new_project(tmp_path / name, {"server": server, **answers}).path


def _yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _commit(project: Path, message: str = "work") -> None:
    git(project, "add", "-A")
    git(project, "commit", "-qm", message)


def _errors(project: Path) -> list[Any]:
    return validate_project(project, schema=False).errors


# --- deployment add -----------------------------------------------------------------------------
@pytest.mark.parametrize("server", SERVERS)
def test_a_deployment_sharing_the_project_folders(tmp_path: Path, server: str) -> None:
    project = _project(tmp_path, server)
    before = files_of(project)
    result = add_deployment(project, "green")
    assert result.files == [".copier-answers.green.yml", "green-deployment.yml"]
    assert files_of(project) == before | set(result.files)
    blue, green = _yaml(project / "deployment.yml"), _yaml(project / "green-deployment.yml")
    assert green["name"] == "green" and green["endpoint_name"] == blue["endpoint_name"]
    assert {k: v for k, v in green.items() if k != "name"} == {
        k: v for k, v in blue.items() if k != "name"
    }
    answers = _yaml(project / ".copier-answers.green.yml")
    assert answers["deployment_name"] == "green" and answers["deployment_dir"] == ""
    assert result.deployment.folder == project and not result.deployment.own_folders
    assert [d.name for d in list_deployments(project)] == ["blue", "green"]
    assert load_plan(project, "green").deployment_name == "green"
    assert load_plan(project).deployment_name == "blue"  # deployment.yml stays the default


@pytest.mark.parametrize("server", SERVERS)
def test_a_deployment_with_its_own_folders(tmp_path: Path, server: str) -> None:
    project = _project(tmp_path, server)
    result = add_deployment(project, "green", own_folders=True)
    green = _yaml(project / "green-deployment.yml")
    assert green["environment"]["build"]["path"] == "./green/docker-context"
    if "model" in green:
        assert green["model"]["path"].startswith("./green/")
        # its own asset, named after the endpoint (which carries a unique suffix)
        assert green["model"]["name"] == f"{green['endpoint_name']}-green-model"
        assert (project / green["model"]["path"]).exists()
    if "code_configuration" in green:
        assert green["code_configuration"]["code"].startswith("./green/")
    # the build context is rendered the way the project's is (updates keep both)
    for name in files_of(project / "docker-context"):
        rendered = project / "green" / "docker-context" / name
        assert rendered.read_bytes() == (project / "docker-context" / name).read_bytes(), name
    assert (project / "green" / "sample_request.json").is_file()
    assert result.deployment.folder == project / "green" and result.deployment.own_folders
    assert _errors(project) == []
    plan = load_plan(project, "green")
    assert plan.context == project / "green" / "docker-context"
    assert plan.sample_request == project / "green" / "sample_request.json"


def test_own_folders_keep_the_projects_tests_working(tmp_path: Path) -> None:
    project = _project(tmp_path, "minimal")
    add_deployment(project, "green", own_folders=True)
    run_project_tests(project / "green")


def test_the_sources_hand_edits_are_carried_over(tmp_path: Path) -> None:
    project = _project(tmp_path, "torchserve")
    deployment = project / "deployment.yml"
    text = deployment.read_text().replace("instance_count: 1", "instance_count: 3")
    text = text.replace(
        "  initial_delay: 10\n  period: 10\n", "  initial_delay: 45\n  period: 10\n", 1
    )
    deployment.write_text(text)
    dockerfile = project / "docker-context" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "LABEL team=vision\n")
    (project / "docker-context" / "extra.txt").write_text("added by hand\n")
    result = add_deployment(project, "green", own_folders=True, data={"model_version": "7"})
    green = _yaml(project / "green-deployment.yml")
    assert green["instance_count"] == 3  # an edit to deployment.yml by hand
    assert green["liveness_probe"]["initial_delay"] == 45
    assert green["model"]["version"] == "7"  # an answer given for it
    assert (
        (project / "green" / "docker-context" / "Dockerfile")
        .read_text()
        .endswith("LABEL team=vision\n")
    )
    assert (project / "green" / "docker-context" / "extra.txt").read_text() == "added by hand\n"
    assert result.notes == []


def test_an_edit_next_to_the_new_deployments_own_values_is_left_out_with_a_note(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path, "minimal")
    deployment = project / "deployment.yml"
    text = deployment.read_text().replace('name: "blue"', 'name: "blue"  # prod')
    deployment.write_text(text.replace("instance_count: 1", "instance_count: 5"))
    result = add_deployment(project, "green", data={"instance_type": "Standard_F4s_v2"})
    green = _yaml(project / "green-deployment.yml")
    assert green["name"] == "green" and green["instance_type"] == "Standard_F4s_v2"
    assert "# prod" not in (project / "green-deployment.yml").read_text()
    assert green["instance_count"] == 1  # next to the instance_type given: not carried over
    assert [n for n in result.notes if "touch lines the new deployment sets itself" in n]


def test_from_another_deployment_and_sharing_its_folder(tmp_path: Path) -> None:
    project = _project(tmp_path, "minimal")
    add_deployment(project, "green", own_folders=True, data={"instance_count": "2"})
    result = add_deployment(project, "canary", source="green")
    canary = _yaml(project / "canary-deployment.yml")
    assert canary["instance_count"] == 2
    assert canary["model"]["path"] == "./green/model"
    assert result.deployment.folder == project / "green" and not result.deployment.own_folders
    assert not (project / "canary").exists()
    assert [d.name for d in list_deployments(project)] == ["blue", "canary", "green"]


def _sklearn(path: Path, factor: float) -> Path:
    import joblib
    from sklearn.linear_model import LinearRegression

    rows = [[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [0.0, 1.0]]
    joblib.dump(LinearRegression().fit(rows, [factor * (a + b) for a, b in rows]), path)
    return path


def test_a_deployment_with_its_own_model(tmp_path: Path) -> None:
    project = _project(tmp_path, "minimal")
    model = _sklearn(tmp_path / "tripled.joblib", 3.0)
    result = add_deployment(project, "green", models=[str(model)])
    assert (project / "green" / "model" / "tripled.joblib").read_bytes() == model.read_bytes()
    assert not (project / "green" / "model" / "model.json").exists()
    assert "tripled.joblib" in (project / "green" / "src" / "score.py").read_text()
    assert (
        "scikit-learn==" in (project / "green" / "docker-context" / "requirements.txt").read_text()
    )
    request = json.loads((project / "green" / "sample_request.json").read_text())
    response = json.loads((project / "green" / "sample_response.json").read_text())
    assert response["predictions"] == pytest.approx([3.0 * sum(row) for row in request["data"]])
    # the project's own deployment is untouched
    assert (project / "model" / "model.json").is_file()
    assert any("src/score.py loads tripled.joblib" in note for note in result.notes)
    assert _errors(project) == []


def test_a_deployment_serving_several_models(tmp_path: Path) -> None:
    project = _project(tmp_path, "minimal")
    models = [str(_sklearn(tmp_path / f"{n}.joblib", f)) for n, f in (("two", 2.0), ("four", 4.0))]
    add_deployment(project, "green", models=models)
    assert sorted(p.name for p in (project / "green" / "model").iterdir()) == [
        "four.joblib",
        "two.joblib",
    ]
    assert sorted(p.name for p in (project / "green" / "samples").iterdir()) == ["four", "two"]
    args = smoke_arguments(select(project, "green"), project)
    assert args[args.index("--samples") + 1] == str(project / "green" / "samples")
    assert _yaml(project / ".copier-answers.green.yml")["multi_model"] is True
    # validate looks at green's own samples
    (project / "green" / "samples" / "two" / "sample_response.json").unlink()
    report = validate_one(project, "green", schema=False)
    assert [(p.code, p.file) for p in report.errors] == [
        ("smoke.sample.missing", "green/samples/two/sample_response.json")
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["blue"], "already has a deployment named blue (deployment.yml)"),
        (["Green_1"], "is not valid: 3-32 characters"),
        (["gr"], "is not valid: 3-32 characters"),
        (["green", "--from", "nope"], "no deployment named nope"),
        (
            ["green", "--data", "deployment_dir=x"],
            "deployment_dir is set by scaffold deployment add",
        ),
        (["green", "--data", "instance_count=0"], "instance count must be between 1 and 50"),
        (["green", "--data", "nonsense=1"], "'nonsense' is not a question of the template"),
        (["green", "--model", "{missing}"], "no such file or folder"),
    ],
)
def test_bad_adds_are_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    project = _project(tmp_path)
    before = {f: (project / f).read_bytes() for f in files_of(project)}
    argv = [arg.format(missing=tmp_path / "missing.pkl") for arg in argv]
    name, rest = argv[0], argv[1:]
    assert main(["deployment", "add", name, str(project), *rest]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert {f: (project / f).read_bytes() for f in files_of(project)} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_a_taken_file_or_folder_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "green").mkdir()
    with pytest.raises(UsageError, match="green already exists"):
        add_deployment(project, "green", own_folders=True)
    (project / "green-deployment.yml").write_text("# mine\n")
    with pytest.raises(UsageError, match=r"green-deployment\.yml already exists"):
        add_deployment(project, "green")
    assert (project / "green-deployment.yml").read_text() == "# mine\n"


def test_one_model_servers_take_one_model_per_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, "mlflow")
    argv = ["deployment", "add", "green", str(project), "--model", "a", "--model", "b"]
    assert main(argv) == ExitCode.USAGE
    assert "serves one model per deployment" in capsys.readouterr().err


def test_projects_scaffold_did_not_make_are_refused(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / ".copier-answers.yml").unlink()
    with pytest.raises(UsageError, match="scaffold adds deployments to projects it generated"):
        add_deployment(project, "green")


# --- choosing a deployment ----------------------------------------------------------------------
def test_an_unknown_deployment_lists_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)
    add_deployment(project, "green")
    for command in ("run", "serve", "loadtest", "deploy"):
        argv = [command, "--deployment", "nope", "--no-validate", str(project)]
        if command == "deploy":
            argv.append("--dry-run")
        assert main(argv) == ExitCode.USAGE, command
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1] == (
            f"error: no deployment named nope in {project}; the deployments are blue "
            "(deployment.yml), green (green-deployment.yml) (pick one with --deployment NAME)"
        ), command


def test_validate_groups_by_deployment_and_checks_one_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A project with an added deployment: validate checks both, each under its own file and
    summary line; a fault in green is green's only, and --deployment checks one of them."""
    project = _project(tmp_path, "plumber")
    add_deployment(project, "green", own_folders=True)
    capsys.readouterr()
    assert main(["validate", "--no-schema", str(project)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "2 deployments:" in out
    assert "  blue (deployment.yml, with endpoint.yml, plumber): ok" in out
    assert "  green (green-deployment.yml, with endpoint.yml, plumber): ok" in out
    green = project / "green-deployment.yml"
    green.write_text(green.read_text().replace('path: "/score"', 'path: "/nosuch"', 1))
    assert main(["validate", "--no-schema", str(project)]) == ExitCode.INVALID
    out = capsys.readouterr().out
    grouped = out.split("green-deployment.yml:\n", 1)[1]
    assert grouped.lstrip().startswith("error:") and "[route.path.not_served]" in grouped
    assert "green/src/plumber.R" in grouped  # green's own code, not the project's
    assert "  blue (deployment.yml, with endpoint.yml, plumber): ok" in out
    assert "  green (green-deployment.yml, with endpoint.yml, plumber): 1 error(s)" in out
    assert "deployment.yml:\n" not in out.replace("green-deployment.yml:\n", "")
    flags = ["validate", "--no-schema", "--deployment"]
    assert main([*flags, "blue", str(project)]) == ExitCode.OK
    assert "0 error(s)" in capsys.readouterr().out
    assert main([*flags, "green", str(project)]) == ExitCode.INVALID
    assert "[route.path.not_served]" in capsys.readouterr().out
    assert main([*flags, "nope", str(project)]) == ExitCode.USAGE
    assert "the deployments are blue (deployment.yml), green" in capsys.readouterr().err


def test_several_deployments_without_a_main_one_need_a_choice(tmp_path: Path) -> None:
    project = _project(tmp_path)
    add_deployment(project, "green")
    (project / "deployment.yml").rename(project / "blue-deployment.yml")
    with pytest.raises(UsageError, match=r"has 2 deployments: blue .*pick one with --deployment"):
        load_plan(project)
    assert load_plan(project, "blue").deployment_name == "blue"
    assert load_plan(project, "green-deployment.yml").deployment_name == "green"
    (project / "blue-deployment.yml").unlink()
    (project / "green-deployment.yml").unlink()
    with pytest.raises(ProjectError, match="no deployment file"):
        load_plan(project)


def test_deploy_dry_run_sends_the_chosen_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)
    add_deployment(project, "green", own_folders=True)
    argv = ["deploy", "--dry-run", "--deployment", "green", str(project)]
    assert main(argv) == ExitCode.OK
    out = capsys.readouterr().out
    documents = out.split("# 2.")[1]
    assert "name: green" in documents and "name: blue" not in documents
    assert "green/docker-context" in documents
    assert "Next: scaffold smoke" not in out  # a dry run deploys nothing


def test_deployment_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path)
    add_deployment(project, "green", own_folders=True)
    capsys.readouterr()
    assert main(["deployment", "list", "--json", str(project)]) == ExitCode.OK
    rows = json.loads(capsys.readouterr().out)
    endpoint = _yaml(project / "endpoint.yml")["name"]  # multi-ep with a unique suffix
    assert endpoint.startswith("multi-ep-")
    assert rows == [
        {
            "name": "blue",
            "file": "deployment.yml",
            "endpoint": endpoint,
            "folder": ".",
            "own_folders": False,
            "answers_file": ".copier-answers.yml",
        },
        {
            "name": "green",
            "file": "green-deployment.yml",
            "endpoint": endpoint,
            "folder": "green",
            "own_folders": True,
            "answers_file": ".copier-answers.green.yml",
        },
    ]


def test_names_for_scripts_and_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The generated CI loops over `scaffold deployment list --names --others`."""
    project = _project(tmp_path)
    add_deployment(project, "green")
    add_deployment(project, "canary", own_folders=True)
    capsys.readouterr()
    assert main(["deployment", "list", "--names", str(project)]) == ExitCode.OK
    assert capsys.readouterr().out.split() == ["blue", "canary", "green"]
    assert main(["deployment", "list", "--names", "--others", str(project)]) == ExitCode.OK
    assert capsys.readouterr().out.split() == ["canary", "green"]
    workflow = (project / ".github" / "workflows" / "azureml-deploy.yml").read_text()
    assert workflow.count("$(scaffold deployment list --names --others .)") == 2


# --- updates: one answers file per deployment ---------------------------------------------------
@pytest.fixture
def team_template(tmp_path: Path) -> Path:
    """The bundled template as a team's tagged repository (scaffold template init)."""
    repo = tmp_path / "team-template"
    assert main(["template", "init", str(repo)]) == ExitCode.OK
    return repo


def _release(repo: Path, tag: str) -> None:
    """A new template version: a line added to the deployment YAML and to every Dockerfile."""
    shared = repo / "_shared" / "deployment.yml.jinja"
    shared.write_text(shared.read_text() + "# template release " + tag + "\n")
    for dockerfile in repo.glob("*/docker-context/Dockerfile.jinja"):
        dockerfile.write_text(dockerfile.read_text() + "\n# template release " + tag + "\n")
    _commit(repo, tag)
    git(repo, "tag", tag)


def _two_deployments(tmp_path: Path, template: Path) -> Path:
    project = new_project(tmp_path / "upd-ep", {"server": "minimal"}, template=str(template)).path
    add_deployment(project, "green", own_folders=True)
    _commit(project, "green")
    # edits by hand in both deployments, far from the lines the template changes
    for name in ("deployment.yml", "green-deployment.yml"):
        path = project / name
        path.write_text(path.read_text().replace("instance_count: 1", "instance_count: 4"))
    for dockerfile in (
        project / "docker-context" / "Dockerfile",
        project / "green" / "docker-context" / "Dockerfile",
    ):
        text = dockerfile.read_text()
        dockerfile.write_text(text.replace("\nFROM ", "\n# pinned by the team\nFROM ", 1))
    _commit(project, "edits")
    return project


def _tags(project: Path) -> tuple[str, str]:
    return (
        _yaml(project / ".copier-answers.yml")["_commit"],
        _yaml(project / ".copier-answers.green.yml")["_commit"],
    )


def _kept_and_updated(project: Path, tag: str) -> None:
    for name in ("deployment.yml", "green-deployment.yml"):
        text = (project / name).read_text()
        assert "instance_count: 4" in text and f"# template release {tag}" in text, name
    for dockerfile in (
        project / "docker-context" / "Dockerfile",
        project / "green" / "docker-context" / "Dockerfile",
    ):
        text = dockerfile.read_text()
        assert "# pinned by the team" in text and f"# template release {tag}" in text
    assert "<<<<<<<" not in "".join(p.read_text() for p in project.glob("*.yml"))


def test_scaffold_update_moves_every_deployment_and_keeps_their_edits(
    tmp_path: Path, team_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _two_deployments(tmp_path, team_template)
    head = git(project, "rev-parse", "HEAD").strip()
    _release(team_template, "v9.1.0")
    assert main(["update", str(project)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "(.copier-answers.yml)" in out and "(.copier-answers.green.yml)" in out
    assert _tags(project) == ("v9.1.0", "v9.1.0")
    _kept_and_updated(project, "v9.1.0")
    # nothing committed: the project is on the commit it started from, changes in the tree
    assert git(project, "rev-parse", "HEAD").strip() == head
    assert git(project, "status", "--porcelain").strip()
    assert _errors(project) == []


def test_plain_copier_update_with_the_deployments_answers_file(
    tmp_path: Path, team_template: Path
) -> None:
    """Plain copier, no scaffold: `copier update` (the project's own answers file) moves the
    main deployment and leaves green's files alone; `copier update -a
    .copier-answers.green.yml` then moves green's alone. Both keep their hand edits."""
    project = _two_deployments(tmp_path, team_template)
    made_with, _ = _tags(project)
    _release(team_template, "v9.2.0")
    green_files = {".copier-answers.green.yml", "green-deployment.yml"}
    for answers in ([], ["--answers-file", ".copier-answers.green.yml"]):
        proc = subprocess.run(
            [str(COPIER), "update", "--defaults", *answers, str(project)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, proc.stderr
        changed = set(git(project, "status", "--porcelain").split()[1::2])
        if not answers:  # the main deployment's files only
            assert _tags(project) == ("v9.2.0", made_with)
            assert "deployment.yml" in changed and ".copier-answers.yml" in changed
            assert not changed & green_files and not any(c.startswith("green/") for c in changed)
        else:  # green's files only
            assert _tags(project) == ("v9.2.0", "v9.2.0")
            assert changed == green_files | {"green/docker-context/Dockerfile"}
        _commit(project, f"updated with copier {answers}")
    _kept_and_updated(project, "v9.2.0")
    assert _errors(project) == []


def test_update_of_one_deployment_and_answers_per_deployment(
    tmp_path: Path, team_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _two_deployments(tmp_path, team_template)
    argv = ["update", str(project), "--data", "model_version=2"]
    assert main(argv) == ExitCode.USAGE
    assert "pass --deployment NAME" in capsys.readouterr().err
    assert main([*argv, "--deployment", "green"]) == ExitCode.OK
    assert _yaml(project / ".copier-answers.green.yml")["model_version"] == "2"
    assert _yaml(project / "green-deployment.yml")["model"]["version"] == "2"
    assert "version" not in _yaml(project / "deployment.yml")["model"]  # content-derived
    assert "instance_count: 4" in (project / "green-deployment.yml").read_text()
    # the lost-edit check of that update, by the deployment's name
    capsys.readouterr()
    assert main(["update", "--verify", "--deployment", "green", str(project)]) == ExitCode.OK
    assert main(["update", "--all", "--deployment", "green", str(project)]) == ExitCode.USAGE
    assert "leave out --deployment" in capsys.readouterr().err


# --- In Docker: Microsoft's mlflow/multideployment-scikit -----------------------------------------
def _mlflow_sklearn(path: Path) -> Path:
    """A scikit-learn model (y = 2a + 3b + 1) saved with mlflow.sklearn (needs scikit-learn)."""
    import mlflow.sklearn
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    rows = pd.DataFrame([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [0.0, 1.0]], columns=["a", "b"])
    model = LinearRegression().fit(rows, 2 * rows["a"] + 3 * rows["b"] + 1)
    mlflow.sklearn.save_model(
        model,
        str(path),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        input_example=rows.iloc[:2],
    )
    return path


MEDIAN_MODEL = '''
import mlflow.pyfunc


class RunningMedian(mlflow.pyfunc.PythonModel):
    """The median of each row's values, kept in a sortedcontainers.SortedList: a model whose
    requirements (sortedcontainers, no scikit-learn) are not the other deployment's."""

    def predict(self, context, model_input, params=None):
        from sortedcontainers import SortedList

        medians = []
        for row in model_input.itertuples(index=False):
            values = SortedList(float(v) for v in row)
            middle = len(values) // 2
            low, high = values[(len(values) - 1) // 2], values[middle]
            medians.append((low + high) / 2)
        return medians
'''


def _mlflow_median(path: Path, work: Path) -> Path:
    """A pyfunc model that needs sortedcontainers (and not scikit-learn), saved with mlflow."""
    import importlib.util

    import mlflow.pyfunc
    import pandas as pd

    module = work / "running_median.py"
    module.write_text(MEDIAN_MODEL)
    spec = importlib.util.spec_from_file_location("running_median", module)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    rows = pd.DataFrame([[1.0, 9.0, 4.0], [7.0, 2.0, 5.0]], columns=["x", "y", "z"])
    mlflow.pyfunc.save_model(
        str(path),
        python_model=loaded.RunningMedian(),
        code_paths=[str(module)],
        input_example=rows,
        pip_requirements=["mlflow", "pandas", "sortedcontainers==2.4.0"],
    )
    return path


@pytest.fixture(scope="module")
def mlflow_multi(
    tmp_path_factory: pytest.TempPathFactory, standin: Callable[[str], str]
) -> Iterator[Path]:
    """Microsoft's multideployment-scikit as one project: `scaffold new` with the
    scikit-learn model (deployment blue), `scaffold deployment add median --model` with the
    pyfunc model that needs sortedcontainers and not scikit-learn (its own folders, so its
    own requirements). Its images and containers are removed at the end of the module."""
    from scaffold.localrun import clean

    work = tmp_path_factory.mktemp("mlflow-multi")
    sklearn_model = _mlflow_sklearn(work / "sklearn-diabetes")
    median_model = _mlflow_median(work / "running-median", work)
    project = work / "mlflow-multi"
    argv = ["new", "--server", "mlflow", "--base-image", standin("mlflow"), "--model"]
    try:
        assert main([*argv, str(sklearn_model), str(project)]) == ExitCode.OK
        add = ["deployment", "add", "median", str(project), "--model", str(median_model)]
        assert main(add) == ExitCode.OK
        yield project
    finally:
        if project.exists():
            clean(project)


@pytest.mark.docker
def test_mlflow_multideployment_two_models_with_different_requirements(
    mlflow_multi: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each deployment's own requirements, validate green over both, `run --deployment`
    builds each deployment's image and smoke-tests its own model with its own samples."""
    project = mlflow_multi
    blue = (project / "docker-context" / "requirements.txt").read_text()
    median = (project / "median" / "docker-context" / "requirements.txt").read_text()
    assert "scikit-learn==" in blue and "sortedcontainers" not in blue
    assert "sortedcontainers==2.4.0" in median and "scikit-learn" not in median
    assert _errors(project) == []
    endpoint = _yaml(project / "endpoint.yml")["name"]  # mlflow-multi-XXXX
    capsys.readouterr()
    for deployment in ("blue", "median"):
        assert main(["run", "--deployment", deployment, str(project)]) == ExitCode.OK
        captured = capsys.readouterr()
        assert "OK: smoke test passed" in captured.out, captured.err
        assert f"scaffold-local/{endpoint}-{deployment}" in captured.out
    response = json.loads((project / "median" / "sample_response.json").read_text())
    assert response["predictions"] == [4.0, 5.0]


@pytest.mark.docker
def test_mlflow_multideployment_validate_per_deployment(
    mlflow_multi: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate (schema step included, as before `run`) over both deployments, grouped, and
    of each one with --deployment."""
    project = mlflow_multi
    capsys.readouterr()
    assert main(["validate", str(project)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "2 deployments:" in out
    assert "  blue (deployment.yml, with endpoint.yml, mlflow): ok" in out
    median = out.split("  median (median-deployment.yml, with endpoint.yml, mlflow): ")[1]
    # ok, or (before `run` recorded median's sample response) that warning of its own
    assert median.startswith(("ok\n", "0 error(s)")), out
    if not median.startswith("ok"):
        assert out.startswith("median/sample_response.json:\n  warning:"), out
    assert main(["validate", "--deployment", "blue", str(project)]) == ExitCode.OK
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().out
    assert main(["validate", "--deployment", "median", str(project)]) == ExitCode.OK
    assert "deployment.yml" not in capsys.readouterr().out.replace("median-deployment.yml", "")


@pytest.mark.docker
def test_mlflow_multideployment_serve_one_deployment(mlflow_multi: Path, tmp_path: Path) -> None:
    """`scaffold serve --deployment median` (a real process, stopped with SIGTERM) serves the
    median model from its own image: its sample answers with its own response."""
    import signal

    from test_localrun import _containers_of, _post, _scaffold, _serving_urls, _wait_for

    project = mlflow_multi
    out, err = tmp_path / "out", tmp_path / "err"
    proc = _scaffold("serve", "--deployment", "median", str(project), out=out, err=err)
    try:
        urls = _wait_for("the URLs", lambda: _serving_urls(out), proc, err, seconds=600)
        assert isinstance(urls, dict)
        request = (project / "median" / "sample_request.json").read_bytes()
        status, body = _post(urls["scoring"], request)
        assert status == 200, body
        assert json.loads(body)["predictions"] == [4.0, 5.0]
        endpoint = _yaml(project / "endpoint.yml")["name"]
        assert f"scaffold-local/{endpoint}-median" in err.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    assert code == ExitCode.OK, err.read_text()[-2000:]
    assert _containers_of(project) == []


@pytest.mark.docker
def test_mlflow_multideployment_deployed_behind_one_endpoint(
    mlflow_multi: Path,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`deploy --deployment` of each against the ARM stand-in (not Azure): one endpoint, two
    deployments, each sent with its own build context and model; then `smoke --deployment`
    of each through the stand-in's front end (key checked, azureml-model-deployment routing)
    to its own real container."""
    from scaffold.localrun import LocalDeployment

    project = mlflow_multi
    flags = [str(project), *WS_FLAGS]
    endpoint = _yaml(project / "endpoint.yml")["name"]
    assert main(["deploy", "--deployment", "blue", *flags], azure=azure) == ExitCode.OK
    assert "traffic blue=100" in capsys.readouterr().out
    argv = ["deploy", "--deployment", "median", "--traffic", "blue=90,median=10", *flags]
    assert main(argv, azure=azure) == ExitCode.OK
    assert "traffic blue=90, median=10" in capsys.readouterr().out
    puts = arm.seen("PUT", rf"/onlineEndpoints/{endpoint}/deployments/[^/]+$")
    assert [r.path.rsplit("/", 1)[-1] for r in puts] == ["blue", "median"]
    requirements = [
        data.decode()
        for path, (data, _) in arm.blobs.items()
        if path.endswith("docker-context/requirements.txt")
    ]
    assert len(requirements) == 2, sorted(arm.blobs)
    assert any("scikit-learn==" in r and "sortedcontainers" not in r for r in requirements)
    assert any("sortedcontainers==2.4.0" in r and "scikit-learn" not in r for r in requirements)
    models = [json.loads(r.body)["properties"]["model"] for r in puts]
    assert "/models/" in models[0] and "/models/" in models[1] and models[0] != models[1]

    with (
        LocalDeployment(project, deployment="blue").ready() as blue,
        LocalDeployment(project, deployment="median").ready() as median,
    ):
        arm.scenario.upstreams = {
            "blue": blue.url(blue.plan.scoring),
            "median": median.url(median.plan.scoring),
        }
        for deployment in ("blue", "median"):
            argv = ["smoke", *flags, "--deployment", deployment]
            assert main(argv, azure=azure) == ExitCode.OK, deployment
            shown = capsys.readouterr()
            assert "PASS scoring" in shown.err and "smoke test passed" in shown.out
            scored = arm.seen("POST", rf"^/score/{endpoint}$")
            assert scored[-1].header("azureml-model-deployment") == deployment
        assert {deployment for _, _, deployment, status in arm.scored if status == 200} == {
            "blue",
            "median",
        }
