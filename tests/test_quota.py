"""VM quota before anything is created (scaffold.quota): the 20% upgrade reserve, the
family and regional usage from azure-ai-ml's usage listing, and the facts behind them
(templates/_instance_types.json), against the ARM stand-in's usage API and its real 400."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from test_azure import WS_FLAGS, ArmStandin, arm, azure  # noqa: F401 - fixtures

from conftest import Render
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.quota import needed_vcpus, usage_name_of_family


def _deploy(project: Any, azure: dict[str, Any], *extra: str) -> int:  # noqa: F811
    return main(["deploy", str(project), *WS_FLAGS, *extra], azure=azure)


@pytest.mark.parametrize(
    ("vcpus", "count", "replacing", "needed"),
    [
        (4, 1, 0, 8),  # the real refusal: Standard_DS3_v2 x 1 -> "Additional needed: 8"
        (4, 10, 0, 48),  # how-to-manage-quotas: 10 x DS3_v2 needs 48 cores
        (4, 3, 0, 16),
        (16, 2, 0, 48),
        (4, 1, 4, 4),  # updating a 1-instance deployment in place: only the reserve
        (4, 1, 16, 0),
    ],
)
def test_needed_vcpus_include_the_upgrade_reserve(
    vcpus: int, count: int, replacing: int, needed: int
) -> None:
    assert needed_vcpus(vcpus, count, replacing=replacing) == needed


def test_every_size_names_its_quota_as_the_usage_api_does() -> None:
    """Family and usage names as Azure's APIs spell them (VirtualMachineSize/list.json,
    Usage/list.json, and the names users quote from the studio's Quota page)."""
    from scaffold.instances import instance_types, lookup

    for size in instance_types().values():
        assert re.fullmatch(r"[Ss]tandard[A-Za-z0-9_]+Family", size.quota_family), size
        assert size.quota_usage == usage_name_of_family(size.quota_family), size
    for name, usage in [
        ("Standard_DS3_v2", "Standard DSv2 Family Cluster Dedicated vCPUs"),
        ("Standard_NC4as_T4_v3", "Standard NCASv3_T4 Family Cluster Dedicated vCPUs"),
        ("Standard_NC24ads_A100_v4", "Standard NCADSA100v4 Family Cluster Dedicated vCPUs"),
        ("Standard_D4as_v4", "Standard DASv4 Family Cluster Dedicated vCPUs"),
        ("Standard_F4s_v2", "Standard FSv2 Family Cluster Dedicated vCPUs"),
    ]:
        size = lookup(name)
        assert size is not None and size.quota_usage == usage


def test_not_enough_quota_is_refused_with_the_numbers_before_anything_is_created(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render("minimal", name="quota-ep")  # 1 x Standard_DS3_v2: 4 vCPUs
    arm.scenario.quota = {"standardDSv2Family": 6}
    assert _deploy(project, azure) == ExitCode.AZURE
    err = capsys.readouterr().err
    assert "needs ceil(1.2 x 1) x 4 = 8 vCPUs free" in err
    assert "only 6 of Standard DSv2 Family Cluster Dedicated vCPUs free (usage 0/6)" in err
    assert "lower instance_count" in err and "nothing was created" in err
    assert not arm.seen("PUT", r".") and not arm.seen("POST", r"startPendingUpload")
    assert arm.seen("GET", r"/locations/[^/]+/usages$")

    # Azure's own check, when scaffold's is skipped: the synchronous 400 whose cause is
    # only in details[], shown as the headline with the same advice.
    assert _deploy(project, azure, "--no-quota-check") == ExitCode.DEPLOY_FAILED
    err = capsys.readouterr().err
    assert (
        "deployment quota-ep/blue failed: HTTP 400 OutOfQuota: VmSize: Not enough quota "
        "available for Standard_DS3_v2" in err
    )
    assert "usage/limit 0/6, 8 more needed" in err and "lower instance_count (now 1)" in err


def test_an_update_in_place_needs_only_the_reserve_a_second_deployment_all(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render("plumber", name="inplace-ep")
    arm.scenario.quota = {"standardDSv2Family": 8}
    assert _deploy(project, azure) == ExitCode.OK  # 8 free, 8 needed; 4 in use afterwards
    assert _deploy(project, azure) == ExitCode.OK  # blue again: 4 - 4 + 4 reserve = 4
    assert "needs ceil(1.2 x 1) x 4 - 4 = 4 vCPUs" in capsys.readouterr().err
    deployment = project / "deployment.yml"
    deployment.write_text(deployment.read_text().replace('name: "blue"', 'name: "green"'))
    assert _deploy(project, azure) == ExitCode.AZURE  # green: 8 more, only 4 free
    assert "only 4 of Standard DSv2" in capsys.readouterr().err


def test_the_regional_total_counts_too(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render("minimal", name="region-ep")
    arm.scenario.regional_limit = 10
    arm.scenario.other_usage = {"standardFSv2Family": 4}  # e.g. a compute cluster
    assert _deploy(project, azure) == ExitCode.AZURE
    err = capsys.readouterr().err
    assert "6 of the region's Total Cluster Dedicated Regional vCPUs free (usage 4/10)" in err


def test_unreadable_usage_or_unknown_size_leaves_the_check_to_azure(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = render("minimal", name="noread-ep")
    arm.scenario.usage_forbidden = True
    assert _deploy(project, azure) == ExitCode.OK
    assert "quota not checked: cannot read the usage" in capsys.readouterr().err

    # A size scaffold's facts do not list: family and vCPUs from Azure's size listing.
    arm.reset()
    deployment = project / "deployment.yml"
    deployment.write_text(deployment.read_text().replace("Standard_DS3_v2", "Standard_D2s_v3"))
    arm.scenario.quota = {"standardDSv3Family": 2}
    assert _deploy(project, azure, "--no-validate") == ExitCode.AZURE
    err = capsys.readouterr().err
    assert "ceil(1.2 x 1) x 2 = 4 vCPUs" in err and "Standard DSv3 Family" in err


def test_usage_listing_shape_is_read_as_azure_ai_ml_returns_it(
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
) -> None:
    """azure-ai-ml copies the REST dict into its Usage entity (currentValue, not
    current_value): the check reads both spellings."""
    from scaffold.quota import check_quota
    from scaffold.workspace import WorkspaceRef, connect

    client = connect(WorkspaceRef(WS_FLAGS[1], WS_FLAGS[3], WS_FLAGS[5], "test"), **azure)
    arm.scenario.other_usage = {"standardDSv2Family": 10}
    usage = next(u for u in client.compute.list_usage() if "DSv2" in json.dumps(u.__dict__))
    assert usage.current_value is None  # the SDK's quirk the check must survive
    result = check_quota(client, "Standard_DS4_v2", 2)
    assert (result.family_used, result.family_limit, result.needed) == (10, 24, 24)
    assert not result.ok and result.family_free == 14


def test_the_subscription_entry_counts_not_a_workspace_share(
    render: Render,
    arm: ArmStandin,  # noqa: F811
    azure: dict[str, Any],  # noqa: F811
) -> None:
    """The usage listing repeats a family's name per workspace (Usage/list.json) with that
    workspace's part only; the quota is the subscription's entry in any order of the list."""
    from scaffold.quota import check_quota
    from scaffold.workspace import WorkspaceRef, connect

    project = render("minimal", name="scope-ep")
    assert _deploy(project, azure) == ExitCode.OK  # one Standard_DS3_v2: 4 vCPUs
    arm.scenario.other_usage = {"standardDSv2Family": 12}  # e.g. another workspace's cluster
    client = connect(WorkspaceRef(WS_FLAGS[1], WS_FLAGS[3], WS_FLAGS[5], "test"), **azure)
    listing = list(client.compute.list_usage())
    names = [u.name.value if hasattr(u.name, "value") else u.name["value"] for u in listing]
    family = "Standard DSv2 Family Cluster Dedicated vCPUs"
    assert names.count(family) == 2  # the subscription's entry and the workspace's

    class Reversed:  # the same real entities, listed the other way round
        compute = type("C", (), {"list_usage": staticmethod(lambda: listing[::-1])})()

    for source in (client, Reversed()):
        result = check_quota(source, "Standard_DS3_v2", 1)
        assert (result.family_used, result.family_limit) == (12 + 4, 24), source
