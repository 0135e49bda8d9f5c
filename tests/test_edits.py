"""The lost-edit check on its own: base (old template), before and after texts in memory.

Real updates are in test_update_edits.py; here each way copier's line merge can lose a
user value is written out by hand, including the shapes the issue measured (a block moved
by the template, flow-style YAML, duplicate keys left by "take ours", `.rej` mode leaving
the template's values) and some that are not in the issue (lists, JSON, reordered keys,
type changes, comments only).
"""

from __future__ import annotations

import textwrap

import pytest

from scaffold.edits import AnswerChanges, compare_answers, compare_file, shown


def _y(text: str) -> bytes:
    return textwrap.dedent(text).lstrip("\n").encode()


BASE = _y("""
    name: blue
    instance_type: "Standard_DS3_v2"
    instance_count: 1
    request_settings:
      request_timeout_ms: 5000
      max_concurrent_requests_per_instance: 1
    liveness_probe:
      initial_delay: 10
      period: 10
    environment_variables:
      WORKER_COUNT: "1"
    """)

MINE = _y("""
    name: blue
    instance_type: "Standard_NC6s_v3"
    instance_count: 3
    request_settings:
      request_timeout_ms: 9000
      max_concurrent_requests_per_instance: 1
    liveness_probe:
      initial_delay: 60
      period: 10
    environment_variables:
      WORKER_COUNT: "4"
      MY_FLAG: "on"
    """)


def _keys(lost: list) -> set[str]:
    return {edit.key for edit in lost}


def test_untouched_or_unedited_files_lose_nothing() -> None:
    assert compare_file("deployment.yml", BASE, MINE, MINE) == []
    assert compare_file("deployment.yml", BASE, BASE, _y("name: green\n")) == []


def test_every_user_value_kept_in_a_reformatted_and_reordered_file() -> None:
    """Flow style, other key order, other comments: the same values, nothing lost."""
    after = _y("""
        # moved around by the template, flow style
        request_settings: {max_concurrent_requests_per_instance: 1, request_timeout_ms: 9000}
        environment_variables: {MY_FLAG: "on", WORKER_COUNT: "4"}
        instance_count: 3
        instance_type: Standard_NC6s_v3
        liveness_probe: {period: 10, initial_delay: 60}
        name: blue
        new_key_from_template: true
        """)
    assert compare_file("deployment.yml", BASE, MINE, after) == []


def test_take_theirs_reverts_are_reported_by_key_with_the_users_value() -> None:
    after = BASE.replace(b"period: 10", b"period: 15")
    lost = compare_file("deployment.yml", BASE, MINE, after)
    assert _keys(lost) == {
        "instance_type",
        "instance_count",
        "request_settings.request_timeout_ms",
        "liveness_probe.initial_delay",
        "environment_variables.WORKER_COUNT",
        "environment_variables.MY_FLAG",
    }
    by_key = {edit.key: edit for edit in lost}
    assert by_key["instance_count"].yours == "3" and by_key["instance_count"].now == "1"
    assert by_key["environment_variables.MY_FLAG"].now == "(missing)"
    assert "deployment.yml: instance_count: yours 3, now 1" in by_key["instance_count"].describe()


def test_a_block_moved_by_the_template_keeps_values_at_the_new_place() -> None:
    """The template moved request_settings under a new `sizing` key: the user's value there
    counts as kept; the template's default there is reported with where it is now."""
    moved_kept = _y("""
        name: blue
        sizing:
          instance_type: Standard_NC6s_v3
          instance_count: 3
          request_settings:
            request_timeout_ms: 9000
            max_concurrent_requests_per_instance: 1
        liveness_probe:
          initial_delay: 60
          period: 10
        environment_variables:
          WORKER_COUNT: "4"
          MY_FLAG: "on"
        """)
    assert compare_file("deployment.yml", BASE, MINE, moved_kept) == []
    moved_default = moved_kept.replace(b"instance_count: 3", b"instance_count: 1")
    (lost,) = compare_file("deployment.yml", BASE, MINE, moved_default)
    assert (lost.key, lost.yours, lost.now) == ("instance_count", "3", "1 at sizing.instance_count")


def test_take_ours_duplicate_keys_are_reported() -> None:
    """ "Take ours" on a moved block leaves the key twice: YAML keeps the last one."""
    after = _y("""
        name: blue
        instance_count: 1
        instance_type: "Standard_NC6s_v3"
        instance_count: 3
        request_settings:
          request_timeout_ms: 9000
          max_concurrent_requests_per_instance: 1
        liveness_probe:
          initial_delay: 60
          period: 10
        environment_variables:
          WORKER_COUNT: "4"
          MY_FLAG: "on"
        """)
    lost = compare_file("deployment.yml", BASE, MINE, after)
    assert [(e.key, e.now) for e in lost] == [("instance_count", "defined at lines 2, 4")]
    assert "duplicate key" in lost[0].reason


def test_removed_keys_brought_back_and_type_changes() -> None:
    mine = _y("""
        name: blue
        instance_type: "Standard_DS3_v2"
        instance_count: "3"
        request_settings:
          request_timeout_ms: 5000
          max_concurrent_requests_per_instance: 1
        environment_variables:
          WORKER_COUNT: "1"
        """)  # liveness_probe removed; instance_count now a string
    lost = compare_file("deployment.yml", BASE, mine, BASE)
    assert _keys(lost) == {
        "instance_count",
        "liveness_probe.initial_delay",
        "liveness_probe.period",
    }
    assert {e.yours for e in lost} == {'"3"', "(removed by you)"}


def test_lists_keep_the_items_the_user_added_and_removed() -> None:
    base = _y("packages: [a, b]\n")
    mine = _y("packages: [a, c]\n")
    assert compare_file("x.yml", base, mine, _y("packages: [a, c, d]\n")) == []
    (lost,) = compare_file("x.yml", base, mine, _y("packages: [a, b, d]\n"))
    assert lost.key == "packages"


def test_json_files_key_by_key() -> None:
    base = b'{"instances": [[1, 2]], "params": {"k": 1}}'
    mine = b'{"instances": [[1, 2]], "params": {"k": 5}}'
    assert (
        compare_file("sample.json", base, mine, b'{"params": {"k": 5}, "instances": [[1, 2]]}')
        == []
    )
    (lost,) = compare_file("sample.json", base, mine, base)
    assert lost.key == "params.k" and lost.yours == "5"


def test_yaml_the_update_broke_is_reported() -> None:
    (lost,) = compare_file("deployment.yml", BASE, MINE, b"name: [unclosed\n")
    assert "invalid YAML" in lost.now and lost.reason == "the update broke the file"


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # the user's lines kept, the template's line changed: nothing lost
        (b"FROM base:2\nRUN apt-get install -y libgomp1\nENV MY_SETTING=1\n", []),
        # the user's added line gone
        (b"FROM base:2\nRUN apt-get install -y libgomp1\n", ["line 3"]),
        # a line the user removed came back
        (b"FROM base:2\nRUN apt-get install -y libgomp1\nENV MY_SETTING=1\nRUN old-step\n", [""]),
    ],
)
def test_text_files_line_by_line(after: bytes, expected: list[str]) -> None:
    base = b"FROM base:1\nRUN apt-get install -y libgomp1\nRUN old-step\n"
    mine = b"FROM base:1\nRUN apt-get install -y libgomp1\nENV MY_SETTING=1\n"
    lost = compare_file("docker-context/Dockerfile", base, mine, after)
    assert [edit.key for edit in lost] == expected


def test_whole_files_binary_deleted_and_recreated() -> None:
    assert (
        compare_file("model.bin", b"\0old", b"\0mine", b"\0theirs")[0].reason
        == "binary file replaced"
    )
    assert (
        compare_file("notes.md", b"a\n", None, b"a\n")[0].reason == "the update re-created the file"
    )
    assert compare_file("notes.md", b"a\n", b"a\nmine\n", None)[0].reason == "the update removed it"


def test_answers_renamed_removed_rejected_and_dropped() -> None:
    before = {
        "_commit": "v1.0.0",
        "instance_size": "big",
        "legacy": True,
        "port": 8000,
        "region": "westeurope",
        "auth_mode": "key",
        "timeout": 90000,
    }
    after = {"_commit": "v2.0.0", "instance_type": "big", "timeout": 5000}
    changes = AnswerChanges(
        given={"instance_type": "big"},
        renamed={"instance_size": ["instance_type"]},
        removed={"legacy": "2.0.0"},
        not_applicable=["port"],
        old_defaults={"auth_mode": "key", "region": "eastus"},
    )
    lost, notes = compare_answers(".copier-answers.yml", before, after, changes)
    assert [(e.key, e.yours, e.now) for e in lost] == [
        ("region", '"westeurope"', "(missing)"),
        ("timeout", "90000", "5000"),
    ]
    assert len(notes) == 3 and not any("instance_size" in n for n in notes)


def test_shown_keeps_types_apart() -> None:
    assert [shown(v) for v in (3, "3", True, 1.0)] == ["3", '"3"', "true", "1.0"]
