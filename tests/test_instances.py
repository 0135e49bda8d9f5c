"""scaffold.instances: the VM sizes table and what a local container gets from it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scaffold.instances import local_resources, lookup, machine_cpus
from scaffold.project import load_endpoint


def test_sizes_are_found_in_any_case() -> None:
    found = lookup("standard_ds3_V2")
    assert found is not None and found.vcpus == 4 and found.memory_gib == 14
    assert lookup("Standard_Bogus") is None


def test_a_local_container_gets_the_instance_type_capped_to_the_machine() -> None:
    cpus = machine_cpus()
    plain = local_resources("Standard_DS3_v2")
    assert plain.cpuset == "" and plain.cpus == min(4, len(cpus))
    assert plain.memory_bytes > 0 and plain.client_cpus == ()
    assert plain.notes[0] == "Standard_DS3_v2: 4 vCPUs, 14 GiB"
    if len(cpus) < 4:
        assert any(f"gives it {len(cpus)} of its 4 vCPUs" in note for note in plain.notes)


def test_a_load_test_keeps_a_cpu_for_the_client() -> None:
    cpus = machine_cpus()
    if len(cpus) < 2:
        pytest.fail("this test needs a machine with 2 CPUs or more")
    pinned = local_resources("Standard_F2s_v2", separate_client=True)
    server = [int(c) for c in pinned.cpuset.split(",")]
    assert server and set(server).isdisjoint(pinned.client_cpus)
    assert set(server) | set(pinned.client_cpus) <= set(cpus)
    assert len(server) == min(2, len(cpus) - 1) == pinned.server_cpus
    assert any("load client on CPU" in note for note in pinned.notes)


def test_unknown_and_huge_sizes_are_said_so() -> None:
    unknown = local_resources("Standard_Bogus")
    assert unknown.memory_bytes == 0 and "unknown" in unknown.notes[0]
    huge = local_resources("Standard_NC24ads_A100_v4")
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < huge.memory_bytes < total  # capped below the machine's memory
    assert any("none here" in note for note in huge.notes)  # the GPU is said to be missing


def test_endpoint_settings_come_from_endpoint_yml(tmp_path: Path) -> None:
    assert load_endpoint(tmp_path, "fallback").name == "fallback"
    (tmp_path / "endpoint.yml").write_text(
        "name: my-ep\nauth_mode: aml_token\ntraffic:\n  blue: 90\n  green: 10\n"
    )
    found = load_endpoint(tmp_path, "fallback")
    assert (found.name, found.auth_mode, found.traffic) == (
        "my-ep",
        "aml_token",
        {"blue": 90, "green": 10},
    )
