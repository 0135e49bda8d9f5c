"""Real template evolutions from public history, each updated under every way of resolving.

Microsoft's custom-container samples in Azure/azureml-examples are the de-facto template of
Azure ML BYOC projects, and their deployment YAML changed over the years. The cases below
reproduce, by hand, consecutive versions of those files (source: repository and commit
named per case; only the lines that matter are kept) as releases of a copier template
(the `{{acr_name}}`-style placeholders the samples fill with sed become template questions,
and one case keeps them raw, as a team copying the files verbatim would). On top, the edits
users make to such files (sizing, their registry, variables, probes). After each real update
the invariant is checked independently of scaffold's own check, for the merge as copier left
it and, when it conflicts, for keeping the template's side and keeping the user's side of
every conflict: each user value is still in the file, or the update/--verify named it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from scaffold.conflicts import sides
from scaffold.generate import new_project
from scaffold.update import update_project, verify
from templatekit import TemplateRepo, commit_all, edit, git, values_named

COPIER_YML = """
_subdirectory: project
_answers_file: .copier-answers.yml
_envops:
  keep_trailing_newline: true
acr_name:
  type: str
  default: contosoacr
endpoint_name:
  type: str
  default: demo-endpoint
model_version:
  type: str
  default: "1"
"""


@dataclass(frozen=True)
class Case:
    """One evolution: the file at two versions, the user's edits, the values they set."""

    source: str
    before: str
    after: str
    #: (old text, new text) replacements the user makes in the rendered file.
    edits: list[tuple[str, str]]
    #: Key path -> the user's value, for the oracle (YAML cases).
    values: dict[tuple[str, ...], object] = field(default_factory=dict)
    #: Lines the user wrote, for the oracle (raw, non-YAML cases).
    lines: list[str] = field(default_factory=list)
    #: Keep the sample's placeholders raw (not Jinja): the file is not valid YAML.
    raw: bool = False
    #: What copier does with it (measured with copier 9.19): "conflict" or "clean".
    merge: str = "conflict"


R_V1 = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: r-deployment
endpoint_name: r-endpoint
model:
  name: plumber
  version: 1
  local_path: ./scripts
environment:
  name: r-environment
  version: 1
  image: {{ acr_name }}.azurecr.io/r_server
  inference_config:
    liveness_route:
      port: 8000
      path: /live
    readiness_route:
      port: 8000
      path: /ready
    scoring_route:
      port: 8000
      path: /score
instance_type: Standard_F2s_v2
instance_count: 1
"""

CASES = {
    # Azure/azureml-examples a7d442703 "anon byoc env": cli/endpoints/online/custom-container/
    # r/r-deployment.yml drops the environment's name and version (anonymous environment).
    "r-anonymous-environment": Case(
        "Azure/azureml-examples@a7d442703 r/r-deployment.yml",
        R_V1,
        R_V1.replace("  name: r-environment\n  version: 1\n", ""),
        [
            ("  name: r-environment\n  version: 1", "  name: team-r-env\n  version: 4"),
            ("instance_count: 1", "instance_count: 2"),
        ],
        values={
            ("environment", "name"): "team-r-env",
            ("environment", "version"): 4,
            ("instance_count",): 2,
        },
    ),
    # Azure/azureml-examples f50f94756 "March CLI Breaking Changes": model.local_path
    # becomes model.path, the environment name/version are commented out.
    "r-march-cli-breaking-changes": Case(
        "Azure/azureml-examples@f50f94756 r/r-deployment.yml",
        R_V1.replace("  name: r-environment\n  version: 1\n", ""),
        R_V1.replace("local_path:", "path:").replace(
            "  name: r-environment\n  version: 1\n", "  #name: r-environment\n  #version: 1\n"
        ),
        [
            ("  version: 1\n  local_path", "  version: 7\n  local_path"),
            (".azurecr.io/r_server", ".azurecr.io/team/r_server:2.3"),
        ],
        values={
            ("model", "version"): 7,
            ("environment", "image"): "contosoacr.azurecr.io/team/r_server:2.3",
        },
    ),
    # Azure/azureml-examples 3d478631f "Standard_F2s_v2 to Standard_DS2_v2": the template
    # changes the instance type on the line next to the user's instance count.
    "instance-type-bump-next-to-user-count": Case(
        "Azure/azureml-examples@3d478631f r/r-deployment.yml",
        R_V1,
        R_V1.replace("Standard_F2s_v2", "Standard_DS2_v2"),
        [
            ("instance_count: 1", "instance_count: 3"),
            (
                "      path: /score\n",
                "      path: /score\nrequest_settings:\n  request_timeout_ms: 20000\n",
            ),
        ],
        values={("instance_count",): 3, ("request_settings", "request_timeout_ms"): 20000},
    ),
    # Azure/azureml-examples c04b2228b "Add environment variable for HTTP2 support":
    # triton/triton-grpc/triton-grpc-deployment.yml gains an environment_variables block;
    # the user had added one of their own at the end (a clean merge leaves the key twice).
    "triton-http2-variables-next-to-users-own": Case(
        "Azure/azureml-examples@c04b2228b triton/triton-grpc/triton-grpc-deployment.yml",
        """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: triton-grpc-blue
endpoint_name: "{{ endpoint_name }}"
model:
  path: ./models/model_1
model_mount_path: /models
environment:
  name: triton-cc-env
  image: {{ acr_name }}.azurecr.io/azureml-examples/triton-grpc:latest
  inference_config:
      liveness_route:
          path: /v2/health/live
          port: 8000
      readiness_route:
          path: /v2/health/ready
          port: 8000
      scoring_route:
          path: /
          port: 8001
instance_type: Standard_F8s_v2
instance_count: 1
""",
        "",  # filled below
        [
            (
                "instance_count: 1\n",
                'instance_count: 1\nenvironment_variables:\n  OMP_NUM_THREADS: "4"\n',
            )
        ],
        values={("environment_variables", "OMP_NUM_THREADS"): "4"},
        merge="clean",
    ),
    # Azure/azureml-examples 4a0a320b8 "Update instance type to Standard_DS3_V2" on
    # tfserving/half-plus-two/tfserving-deployment.yml; the user renamed the served model.
    "tfserving-instance-type-and-users-model-name": Case(
        "Azure/azureml-examples@4a0a320b8 tfserving/half-plus-two/tfserving-deployment.yml",
        """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: tfserving-deployment
endpoint_name: tfserving-endpoint
model:
  name: tfserving-mounted
  version: {{ model_version }}
  path: ./half_plus_two
environment_variables:
  MODEL_BASE_PATH: /var/azureml-app/azureml-models/tfserving-mounted/{{ model_version }}
  MODEL_NAME: half_plus_two
environment:
  image: docker.io/tensorflow/serving:latest
  inference_config:
    liveness_route:
      port: 8501
      path: /v1/models/half_plus_two
    readiness_route:
      port: 8501
      path: /v1/models/half_plus_two
    scoring_route:
      port: 8501
      path: /v1/models/half_plus_two:predict
instance_type: Standard_DS2_v2
instance_count: 1
""",
        "",  # filled below
        [
            ("MODEL_NAME: half_plus_two", "MODEL_NAME: fraud_scorer"),
            (
                "image: docker.io/tensorflow/serving:latest",
                "image: docker.io/tensorflow/serving:2.19.1",
            ),
        ],
        values={
            ("environment_variables", "MODEL_NAME"): "fraud_scorer",
            ("environment", "image"): "docker.io/tensorflow/serving:2.19.1",
        },
        merge="clean",
    ),
    # The same R sample copied verbatim, placeholders and all (not valid YAML): checked line
    # by line. Azure/azureml-examples f4ff70c48 "Update r-deployment.yml" put the
    # placeholder back where a registry name had slipped in.
    "raw-sample-with-placeholders": Case(
        "Azure/azureml-examples@f4ff70c48 r/r-deployment.yml",
        R_V1.replace("{{ acr_name }}", "alwallace").replace("local_path", "path"),
        R_V1.replace("{{ acr_name }}", "{{acr_name}}").replace("local_path", "path"),
        [
            ("instance_count: 1", "instance_count: 5"),
            ("  version: 1\n  path", "  version: 9\n  path"),
        ],
        lines=["instance_count: 5", "  version: 9"],
        raw=True,
        merge="clean",
    ),
}
CASES["triton-http2-variables-next-to-users-own"] = Case(
    **{
        **CASES["triton-http2-variables-next-to-users-own"].__dict__,
        "after": CASES["triton-http2-variables-next-to-users-own"].before.replace(
            "instance_type: Standard_F8s_v2",
            'environment_variables:\n  MIR_MODEL_USE_HTTP2: "true"\ninstance_type: Standard_F8s_v2',
        ),
    }
)
CASES["tfserving-instance-type-and-users-model-name"] = Case(
    **{
        **CASES["tfserving-instance-type-and-users-model-name"].__dict__,
        "after": CASES["tfserving-instance-type-and-users-model-name"].before.replace(
            "Standard_DS2_v2", "Standard_DS3_v2"
        ),
    }
)


def _template(path: Path, case: Case) -> TemplateRepo:
    repo = TemplateRepo(path)
    repo.write("copier.yml", COPIER_YML)
    repo.write(
        "project/{{_copier_conf.answers_file}}.jinja",
        "{{ _copier_answers | to_nice_yaml -}}\n",
    )
    name = "project/deployment.yml" if case.raw else "project/deployment.yml.jinja"
    (repo.path / "project").mkdir(exist_ok=True)
    (repo.path / name).write_text(case.before)
    repo.release("v1.0.0")
    (repo.path / name).write_text(case.after)
    repo.release("v1.1.0")
    return repo


def _holds(project: Path, case: Case, text: str, reported: set[str]) -> None:
    """The oracle: every user value is in `text`, or reported."""
    if case.raw:
        for line in case.lines:
            assert line in text.splitlines() or line.strip() in reported, (line, reported)
        return
    data = yaml.safe_load(text)
    for path, value in case.values.items():
        key = ".".join(path)
        assert value in values_named(data, path[-1]) or key in reported, (key, value, reported)


def _reported(lost: list) -> set[str]:
    found = set()
    for edit_ in lost:
        found.add(edit_.key)
        found.add(edit_.yours.strip('"'))
    return found


@pytest.mark.parametrize("name", sorted(CASES))
def test_public_evolution_loses_nothing_unreported(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    template = _template(tmp_path / "template", case)
    made = new_project(tmp_path / "proj", {}, template=str(template.path), vcs_ref="v1.0.0")
    project = made.path
    assert made.template_version == "v1.0.0"
    deployment = project / "deployment.yml"
    for old, new in case.edits:
        edit(deployment, old, new)
    commit_all(project, "the user's edits")

    result = update_project(project)
    assert result.to_version == "v1.1.0" and result.check.ran, result.check.error
    text = deployment.read_text()
    assert ("conflict" if result.conflicts else "clean") == case.merge
    if not result.conflicts:
        _holds(project, case, text, _reported(result.lost))
        return
    assert result.conflicts == ["deployment.yml"]
    predicted = result.check.predicted["deployment.yml"]
    yours, theirs = sides(text)
    for side, resolved in (("template", theirs), ("yours", yours)):
        deployment.write_text(resolved)
        git(project, "add", "deployment.yml")
        done = verify(project)
        assert done.conflicts == []
        reported = _reported(done.check.lost)
        _holds(project, case, resolved, reported)
        assert {e.key for e in done.check.lost} == {e.key for e in predicted[side]}, side
