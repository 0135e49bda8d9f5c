"""`scaffold new --model`: what enters a project, its git history and its image from the
user's model, and what never does (scaffold.usermodel.copy_model, scaffold.sensitive).

Real layouts: an MLflow model folder (the template's own sample, made by mlflow), a
Hugging Face cache snapshot (files are links into `../../blobs/`), a model cloned with git
(`.git/`, `.gitattributes`), a `huggingface-cli download --local-dir` folder (`.cache/`),
and keys, tokens and environment files next to the weights. Real git decides what was
committed; archive bombs are read by a child under kernel memory and CPU limits.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from test_limits import run_limited

from conftest import TEMPLATES, git, new_refused
from scaffold.cli import main
from scaffold.errors import ExitCode
from scaffold.generate import new_project
from scaffold.usermodel import copy_model, scan_model

#: Secrets as they look in the wild (made up, with the real formats).
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
ENV_SECRET = "AZURE_CLIENT_SECRET=s3cr3t-value-that-must-not-leak"


def _mlflow_model(path: Path) -> Path:
    """The template's sample MLflow model (saved by mlflow.sklearn) copied to `path`."""
    shutil.copytree(TEMPLATES / "mlflow" / "model", path)
    return path


def _new(model: Path, dest: Path, *extra: str) -> int:
    return main(["new", "--server", "mlflow", "--model", str(model), *extra, str(dest)])


def _everything_committed(project: Path) -> bytes:
    """Every object in the project's git database (all commits, trees, blobs)."""
    return subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=project,
        capture_output=True,
        check=True,
    ).stdout


# --- links -------------------------------------------------------------------------------------
def _outside_links(tmp_path: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (model folder, link inside it, target) for links that leave the model."""
    secret = tmp_path / "outside" / "credentials.json"
    secret.parent.mkdir()
    secret.write_text(json.dumps({"token": GITHUB_TOKEN}))
    return {
        "absolute": (tmp_path / "m1", "extra.json", "/etc/passwd"),
        "relative": (tmp_path / "m2", "extra.json", "../outside/credentials.json"),
        "folder": (tmp_path / "m3", "more", "../outside"),
        "via-inside-link": (tmp_path / "m4", "alias.json", "hop.json"),
    }


@pytest.mark.parametrize("case", ["absolute", "relative", "folder", "via-inside-link"])
def test_links_out_of_the_model_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """A link to a file or folder outside the model (directly, or through another link) is
    never followed: one line, exit 2, nothing written."""
    model, name, target = _outside_links(tmp_path)[case]
    _mlflow_model(model)
    (model / name).symlink_to(target)
    if case == "via-inside-link":
        (model / "hop.json").symlink_to("../outside/credentials.json")
    line = new_refused(["--server", "mlflow", "--model", str(model)], tmp_path / "model-ep", capsys)
    assert "points out of the model folder" in line and "cp -L" in line


def test_a_hugging_face_cache_snapshot_is_refused_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """huggingface_hub's cache layout: snapshots/<revision>/<file> are links to
    ../../blobs/<hash>. They leave the snapshot folder, so the fix is to copy real files."""
    repo = tmp_path / "hub" / "models--acme--tiny"
    snapshot = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for file in (TEMPLATES / "mlflow" / "model").iterdir():
        shutil.copyfile(file, repo / "blobs" / f"sha-{file.name}")
        (snapshot / file.name).symlink_to(f"../../blobs/sha-{file.name}")
    line = new_refused(
        ["--server", "mlflow", "--model", str(snapshot)], tmp_path / "model-ep", capsys
    )
    assert "points out of the model folder" in line


def test_links_inside_the_model_are_kept_as_relative_links(tmp_path: Path) -> None:
    model = _mlflow_model(tmp_path / "model-src")
    (model / "weights").mkdir()
    shutil.copyfile(model / "model.pkl", model / "weights" / "model.pkl")
    (model / "weights" / "alias.pkl").symlink_to("model.pkl")
    (model / "latest").symlink_to(model / "weights")  # absolute, inside: made relative
    project = new_project(tmp_path / "model-ep", {"server": "mlflow"}, model=str(model)).path
    copied = project / "model"
    assert str((copied / "weights" / "alias.pkl").readlink()) == "model.pkl"
    assert str((copied / "latest").readlink()) == "weights"
    assert (copied / "latest" / "alias.pkl").read_bytes() == (model / "model.pkl").read_bytes()
    modes = git(project, "ls-files", "-s", "model").splitlines()
    assert any(line.startswith("120000") and line.endswith("model/latest") for line in modes)


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ({"loop": "."}, "a loop"),
        ({"a": "b", "b": "a"}, "broken or loops"),
        ({"gone": "nowhere.pkl"}, "broken or loops"),
    ],
    ids=["to-own-folder", "cycle", "dangling"],
)
def test_broken_and_looping_links_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], links: dict[str, str], message: str
) -> None:
    model = _mlflow_model(tmp_path / "model-src")
    for name, target in links.items():
        (model / name).symlink_to(target)
    line = new_refused(["--server", "mlflow", "--model", str(model)], tmp_path / "model-ep", capsys)
    assert message in line


# --- dotfiles, keys, credentials ---------------------------------------------------------------
def test_dotfiles_keys_and_vcs_are_left_out_and_never_committed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model cloned with git (and downloaded with huggingface-cli --local-dir), with an
    environment file, an SSH key, AWS credentials and a deploy key beside it: the project
    gets the model files only, says what it left out, and no secret is in any git object."""
    model = _mlflow_model(tmp_path / "model-src")
    (model / ".git").mkdir()
    (model / ".git" / "config").write_text(f"[remote]\n\turl = https://x:{GITHUB_TOKEN}@h/r\n")
    (model / ".gitattributes").write_text("*.pkl filter=lfs diff=lfs merge=lfs -text\n")
    (model / ".cache" / "huggingface").mkdir(parents=True)
    (model / ".cache" / "huggingface" / "token").write_text("hf_" + "a" * 34)
    (model / ".env").write_text(ENV_SECRET + "\n")
    (model / "id_rsa").write_text(PRIVATE_KEY)
    (model / "deploy.pem").write_text(PRIVATE_KEY)
    (model / "credentials").write_text("[default]\naws_secret_access_key = abcdEFGH1234\n")
    assert _new(model, tmp_path / "model-ep") == ExitCode.OK
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if "left out of the project" in line)
    for name in (".git", ".gitattributes", ".cache", ".env", "id_rsa", "deploy.pem", "credentials"):
        assert name in note
    project = tmp_path / "model-ep"
    names = sorted(p.name for p in (project / "model").iterdir())
    assert names == sorted(p.name for p in (TEMPLATES / "mlflow" / "model").iterdir())
    committed = _everything_committed(project)
    for secret in (GITHUB_TOKEN, "OPENSSH PRIVATE KEY", ENV_SECRET, "aws_secret_access_key"):
        assert secret.encode() not in committed
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        ("notes.txt", PRIVATE_KEY, "a private key (line 1)"),
        ("config.json", json.dumps({"hub_token": GITHUB_TOKEN}), "a GitHub token"),
        (
            "params.yaml",
            "storage: DefaultEndpointsProtocol=https;AccountKey=" + "Q" * 86 + "==",
            "an Azure Storage key",
        ),
    ],
    ids=["private-key", "github-token", "azure-storage-key"],
)
def test_files_holding_secrets_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str, what: str
) -> None:
    """A file the model may need (its name is ordinary) that holds a secret: refused with
    the file and the line, nothing written."""
    model = _mlflow_model(tmp_path / "model-src")
    (model / name).write_text(content)
    line = new_refused(["--server", "mlflow", "--model", str(model)], tmp_path / "model-ep", capsys)
    assert f"{name} holds {what}" in line


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_special_files_are_refused_without_reading_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """A named pipe would block a reader forever, a socket cannot be read: refused at once."""
    model = _mlflow_model(tmp_path / "model-src")
    if kind == "fifo":
        os.mkfifo(model / "stream")
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(model / "stream"))
        server.close()
    line = new_refused(["--server", "mlflow", "--model", str(model)], tmp_path / "model-ep", capsys)
    assert "stream is not a regular file" in line


def test_mlflow_input_example_outside_the_model_is_never_read(tmp_path: Path) -> None:
    """MLmodel names the input example's path; one pointing out of the model (absolute or
    through ..) must not become sample_request.json, which is committed (the request is
    then built from the model's signature, as for a model saved without an example)."""
    secret = tmp_path / "docker-config.json"
    secret.write_text(json.dumps({"auths": {"acr.io": {"auth": GITHUB_TOKEN}}}))
    for target in (str(secret), "../docker-config.json"):
        model = _mlflow_model(tmp_path / f"model-{len(target)}")
        mlmodel = yaml.safe_load((model / "MLmodel").read_text())
        mlmodel["saved_input_example_info"]["serving_input_path"] = target
        mlmodel["saved_input_example_info"]["artifact_path"] = target
        (model / "MLmodel").write_text(yaml.safe_dump(mlmodel))
        result = new_project(
            tmp_path / f"model-ep-{len(target)}", {"server": "mlflow"}, model=str(model)
        )
        request = result.path / "sample_request.json"  # built from the signature instead
        assert not request.exists() or "auths" not in request.read_text()
        assert GITHUB_TOKEN.encode() not in _everything_committed(result.path)


def test_copy_model_is_the_library_entry_point(tmp_path: Path) -> None:
    """copy_model(source, target) -> left-out paths: the one way a model enters a project."""
    model = _mlflow_model(tmp_path / "model-src")
    (model / ".env").write_text(ENV_SECRET)
    (model / "sub").mkdir()
    (model / "sub" / "token").write_text("x")
    scan = scan_model(model)
    assert {path for path, _ in scan.left_out} == {".env", "sub/token"}
    assert scan.size == sum(p.stat().st_size for p in (TEMPLATES / "mlflow" / "model").iterdir())
    assert copy_model(model, tmp_path / "copy") == [".env", "sub/token"]
    assert not (tmp_path / "copy" / ".env").exists() and (tmp_path / "copy" / "sub").is_dir()


# --- archives ----------------------------------------------------------------------------------
def _mar_bomb(path: Path, inflated: int) -> Path:
    """A .mar whose MANIFEST.json inflates to `inflated` bytes (zeros compress ~1000:1)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("MAR-INF/MANIFEST.json")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as entry:
            block = b"\x00" * (1 << 20)
            for _ in range(inflated // len(block)):
                entry.write(block)
    return path


def test_a_mar_whose_manifest_is_a_zip_bomb_is_refused_within_bounds(tmp_path: Path) -> None:
    """600 MiB of manifest from a file of under 1 MiB, read by a child limited to 384 MiB of
    address space: refused (exit 2) from the declared size, nothing inflated."""
    bomb = _mar_bomb(tmp_path / "bomb.mar", 600 << 20)
    assert bomb.stat().st_size < 1 << 20
    code, err, _ = run_limited(
        ["new", "--server", "torchserve", "--model", str(bomb), str(tmp_path / "model-ep")],
        tmp_path,
    )
    assert code == ExitCode.USAGE and "zip bomb" in err, err
    assert not (tmp_path / "model-ep").exists()


def test_a_mar_whose_header_lies_about_the_size_is_read_bounded(tmp_path: Path) -> None:
    """The headers claim 100 bytes, the data inflates to 64 MiB: zipfile stops at the
    claimed size and the CRC check fails; refused, never inflated past the claim."""
    path = _mar_bomb(tmp_path / "liar.mar", 64 << 20)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        data[at + offset : at + offset + 4] = struct.pack("<I", 100)
    # zip64 extra fields carry the real sizes too: point both at the claim
    at = 0
    while (at := data.find(b"\x01\x00\x10\x00", at + 1)) > 0:
        data[at + 4 : at + 12] = struct.pack("<Q", 100)
    path.write_bytes(bytes(data))
    code, err, _ = run_limited(
        ["new", "--server", "torchserve", "--model", str(path), str(tmp_path / "model-ep")],
        tmp_path,
    )
    assert code == ExitCode.USAGE and "not a TorchServe model archive" in err, err


def test_an_archive_announcing_too_many_entries_is_refused_before_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "many.mar"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("MAR-INF/MANIFEST.json", "{}")
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<HH", 60000, 60000)  # this disk, total
    path.write_bytes(bytes(data))
    from scaffold import limits

    assert limits.zip_entry_count(path) == 60000
    with pytest.raises(limits.InputRejected, match="60000 entries"):
        limits.zip_expanded_size(path, max_entries=50_000)


def test_a_zip_based_model_that_inflates_past_the_limit_is_copied_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TorchScript .pt is a zip: one that declares more than the inspection limit once
    inflated is archived as it is, never loaded with torch (which would inflate it)."""
    path = tmp_path / "inflating.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data/0", b"\x00" * (8 << 20))
        archive.writestr("archive/code/__torch__.py", "")  # TorchScript writes its source
    monkeypatch.setenv("SCAFFOLD_MODEL_INSPECT_LIMIT", str(1 << 20))
    assert path.stat().st_size < 1 << 20  # within the limit as a file, not once inflated
    result = new_project(tmp_path / "model-ep", {"server": "torchserve"}, model=str(path))
    assert any("write sample_request.json" in note for note in result.notes)
    assert (result.path / "model" / "inflating.mar").is_file()


def test_onnx_external_data_outside_the_model_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An ONNX initializer can keep its data in another file; onnxruntime would read one
    outside the model's folder (`../../secret`) when the samples are recorded."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])
    weight = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    weight.data_location = TensorProto.EXTERNAL
    del weight.float_data[:]
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../etc/shadow"
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    (tmp_path / "models").mkdir()
    onnx.save(model, str(tmp_path / "models" / "ext.onnx"))
    line = new_refused(
        ["--server", "triton", "--model", str(tmp_path / "models" / "ext.onnx")],
        tmp_path / "model-ep",
        capsys,
    )
    assert "outside the model's folder" in line


# --- Model readers: length fields and compressed streams are never trusted -------------------
_RDS = b"X\n" + struct.pack(">iii", 2, 0x40200, 0x20300)  # R 4.2.0, readable by R 2.3.0


def _gzip_zeros(head: bytes, zeros: int) -> bytes:
    """`head` then `zeros` zero bytes, gzip-compressed chunk by chunk (a file of well under
    1 MiB for hundreds of MiB)."""
    import zlib

    pack = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip framing
    parts = [pack.compress(head)]
    block = b"\x00" * (16 << 20)
    for _ in range(zeros // len(block)):
        parts.append(pack.compress(block))
    return b"".join([*parts, pack.flush()])


def _rds_items(count: int) -> bytes:
    """An RDS list claiming 2^31 - 1 elements, followed by `count` NULLs (4 bytes each)."""
    head = _RDS + struct.pack(">ii", 19, 0x7FFFFFFF)
    return gzip.compress(head + struct.pack(">i", 254) * count, compresslevel=1)


HOSTILE_MODELS = {
    # name: (server, file name, contents, exit code, what the one line says or None)
    "pickle-binbytes8-terabyte": (
        "minimal", "model.pkl", b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc",
        ExitCode.USAGE, "ends early",
    ),
    "pickle-bytearray8-terabyte": (
        "minimal", "model.pkl", b"\x80\x05\x96" + struct.pack("<Q", 1 << 40) + b"abc",
        ExitCode.USAGE, "ends early",
    ),
    "pickle-frame-terabyte": (
        "minimal", "model.pkl", b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"abc",
        ExitCode.USAGE, "pickle frame of",
    ),
    "pickle-long4-gigabyte": (
        "minimal", "model.pkl", b"\x80\x02\x8b" + struct.pack("<i", 1 << 30) + b"..",
        ExitCode.USAGE, "whole number of",
    ),
    "pickle-bytearray-call": (
        "minimal", "model.pkl", b"\x80\x02cbuiltins\nbytearray\nJ\x00\x00\x00\x40\x85R.",
        ExitCode.USAGE, "larger than this reader builds",
    ),
    "pickle-set-of-range": (
        "minimal", "model.pkl",
        b"\x80\x02cbuiltins\nset\ncbuiltins\nrange\n\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85R\x85R.",
        ExitCode.USAGE, "larger than this reader builds",
    ),
    "pickle-text-line-without-end": (
        "minimal", "model.pkl", gzip.compress(b"S" + b"a" * (32 << 20), 1), ExitCode.OK, None,
    ),
    "joblib-gzip-inflating-320mib": (
        "minimal", "model.joblib",
        _gzip_zeros(b"\x80\x04\x8e" + struct.pack("<Q", 3 << 30), 320 << 20),
        ExitCode.OK, None,
    ),
    "rds-raw-vector-terabyte": (
        "plumber", "model.rds", _RDS + struct.pack(">iiii", 24, -1, 1 << 8, 0),
        ExitCode.USAGE, "ends early",
    ),
    "rds-string-2gib": (
        "plumber", "model.rds", _RDS + struct.pack(">iiii", 16, 1, 9, 0x7FFFFFFF),
        ExitCode.USAGE, "ends early",
    ),
    "rds-byte-code-2g-entries": (
        "plumber", "model.rds", _RDS + struct.pack(">ii", 21, 0x7FFFFFFF), ExitCode.OK, None,
    ),
    "rds-list-of-2g-nulls": ("plumber", "model.rds", _rds_items(4 << 20), ExitCode.OK, None),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE_MODELS))
def test_hostile_model_files_are_read_bounded(tmp_path: Path, case: str) -> None:
    """Pickles, joblib files and RDS streams are read by scaffold itself (statically): a
    length field claiming a terabyte, a 30-byte pickle calling bytearray(2**30), a gzip
    stream inflating to hundreds of MiB or a list of two billion entries cost a child
    limited to 384 MiB of address space and 15 s of CPU one error line (exit 2), or a
    project whose model is treated as too large to inspect (exit 0): never a traceback,
    a MemoryError or a kill (these were tracebacks, and a 41 KB RDS ran out of memory)."""
    server, name, contents, expected, message = HOSTILE_MODELS[case]
    model = tmp_path / name
    model.write_bytes(contents)
    assert model.stat().st_size < 1 << 20
    dest = tmp_path / "model-ep"
    argv = ["new", "--server", server, "--defaults", "--model-inspect", "none"]
    printed = tmp_path / "stdout.txt"
    code, err, usage = run_limited(
        [*argv, "--model", str(model), str(dest)], tmp_path, stdout=printed
    )
    assert code == expected, f"exit {code} (killed by a limit if negative):\n{err[-2000:]}"
    assert "Traceback" not in err and "MemoryError" not in err, err[-2000:]
    if message is not None:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], err
        assert not dest.exists()
    else:  # copied, and the user is told it was not read
        assert (dest / "model" / name).is_file()
        assert f"{name} was not read past scaffold's bounds" in printed.read_text(), err
    assert usage.ru_maxrss * 1024 < 384 << 20


def test_a_torchscript_file_with_a_huge_data_pkl_is_not_read(tmp_path: Path) -> None:
    """A TorchScript file's data.pkl holds the module's structure (kilobytes): one declaring
    300 MiB (a 300 KB file) is not inflated into memory to find the input width; the
    project is made with the width unknown, in a child limited to 384 MiB."""
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("archive/data.pkl", "w", force_zip64=True) as entry:
            block = b"\x00" * (16 << 20)
            for _ in range(300 >> 4):
                entry.write(block)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/code/__torch__.py", "")  # TorchScript writes its source
    assert path.stat().st_size < 1 << 20
    dest = tmp_path / "pt-ep"
    argv = ["new", "--server", "torchserve", "--defaults", "--model-inspect", "none"]
    code, err, usage = run_limited([*argv, "--model", str(path), str(dest)], tmp_path)
    assert code == ExitCode.OK, f"exit {code} (killed by a limit if negative):\n{err[-2000:]}"
    assert "Traceback" not in err and (dest / "model" / "model.mar").is_file()
    assert usage.ru_maxrss * 1024 < 384 << 20
