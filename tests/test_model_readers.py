"""Reading models without running them: pickles (plain, joblib, compressed, every protocol),
TorchScript's data.pkl, and R serialization streams (a corpus written by real R in the
plumber stand-in: compressions, format versions, factors, crates, byte code, S4, ALTREP)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import TEMPLATES, new_refused
from scaffold.usermodel import pickles, plumber, rds
from scaffold.usermodel.minimal import read_model
from scaffold.usermodel.torchserve import Input, read_inputs, read_width, sample_instances


def _pipeline() -> Any:
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.DataFrame({"age": np.linspace(1, 2, 12), "city": ["oslo", "rome", "lima"] * 4})
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(), ["city"])]
    )
    return make_pipeline(columns, LinearRegression()).fit(frame, np.arange(12.0))


@pytest.mark.parametrize(
    ("how", "suffix"),
    [
        *[(f"pickle{p}", ".pkl") for p in range(2, 6)],
        ("joblib", ".joblib"),
        ("joblib-zlib", ".joblib"),
        ("joblib-gzip", ".joblib"),
        ("joblib-xz", ".joblib"),
        ("joblib-bz2", ".joblib"),
    ],
)
def test_sklearn_models_are_read_statically(tmp_path: Path, how: str, suffix: str) -> None:
    import joblib
    import sklearn

    model, path = _pipeline(), tmp_path / f"model{suffix}"
    if how.startswith("pickle"):
        path.write_bytes(pickle.dumps(model, protocol=int(how[-1])))
    else:
        compress = {"joblib": 0, "joblib-zlib": ("zlib", 3), "joblib-gzip": ("gzip", 3),
                    "joblib-xz": ("xz", 3), "joblib-bz2": ("bz2", 3)}[how]  # fmt: skip
        joblib.dump(model, path, compress=compress)
    info = read_model(path, "joblib" if suffix == ".joblib" else "pickle", inspect=True)
    assert info.version == sklearn.__version__
    assert {"sklearn", "numpy"} <= info.modules and info.numpy2
    assert info.n_features == 2 and info.feature_names == ["age", "city"]
    assert info.categories == {"city": ["lima", "oslo", "rome"]}
    assert info.rows() == [{"age": 0.5, "city": "lima"}, {"age": 1.0, "city": "oslo"}]


class _Boom:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))

    marker = ""


def test_reading_a_pickle_runs_none_of_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    _Boom.marker = str(marker)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"estimator": _Boom()}))
    graph = pickles.read(path)
    assert not marker.exists()
    assert "posix" in graph.modules or "os" in graph.modules  # named, never imported


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (pickle.dumps({"not": "a model"}), "is not a model minimal projects serve"),
        (b"\x80\x04\x95garbage", "not a readable pickle file"),
        (pickle.dumps(_pipeline())[:300], "not a readable pickle file"),
    ],
    ids=["dict", "garbage", "truncated"],
)
def test_bad_pickles_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    source = tmp_path / "model.pkl"
    source.write_bytes(content)
    line = new_refused(["--server", "minimal", "--model", str(source)], tmp_path / "ep", capsys)
    assert message in line


def test_torchscript_width_is_read_without_torch(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "m.pt"
    model = torch.nn.Sequential(torch.nn.Linear(7, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    torch.jit.script(model).save(str(path))
    assert read_width(path) == 7
    traced = tmp_path / "t.pt"
    torch.jit.trace(torch.nn.Linear(5, 2), torch.zeros(1, 5)).save(str(traced))
    assert read_width(traced) == 5


# --- R --------------------------------------------------------------------------------------------
def test_the_template_lm_is_read_without_r() -> None:
    info = plumber.describe(TEMPLATES / "plumber" / "model" / "model.rds")
    assert info.classes == ["lm"] and info.packages == []
    assert [c[0] for c in info.columns] == ["wt", "hp"]
    assert info.rows == [{"wt": 2.62, "hp": 110.0}, {"wt": 2.875, "hp": 110.0}]
    assert info.writer and info.min_reader == "3.5.0"


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"A\n3\n", "ASCII"), (b"X\n\x00\x00\x00\x03", "truncated"), (b"RDX2\n", "not an R")],
)
def test_bad_r_streams(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "m.rds"
    path.write_bytes(data)
    with pytest.raises(rds.RdsError, match=message):
        rds.read(path)


R_CORPUS = r"""
out <- "/out"
m <- lm(mpg ~ wt + hp, mtcars)
saveRDS(m, file.path(out, "lm_v2.rds"), version = 2)
saveRDS(m, file.path(out, "lm_xz.rds"), compress = "xz")
saveRDS(m, file.path(out, "lm_bz.rds"), compress = "bzip2")
saveRDS(m, file.path(out, "lm_plain.rds"), compress = FALSE)
d <- mtcars; d$cyl <- factor(d$cyl)
saveRDS(glm(am ~ cyl + wt + log(disp), data = d, family = binomial), file.path(out, "glm.rds"))
model <- m
crate <- local({ f <- function(df) stats::predict(model, newdata = df)
  environment(f) <- list2env(list(model = model), parent = baseenv()); f })
class(crate) <- c("crate", "function")
saveRDS(serialize(crate, NULL), file.path(out, "crate.bin"))
saveRDS(list(seq = 1:100000, f = compiler::cmpfun(function(x) if (x > 1) x + 1 else -x),
             e = new.env(), s = setNames(letters[1:3], c("x", "y", "z"))),
        file.path(out, "misc.rds"))
setClass("Pt", representation(x = "numeric"))
saveRDS(new("Pt", x = 1), file.path(out, "s4.rds"))
fit <- nls(mpg ~ a * exp(b * wt), mtcars, start = list(a = 40, b = -0.3))
saveRDS(fit, file.path(out, "nls.rds"))
rf <- structure(list(terms = terms(mpg ~ wt), ntree = 10L), class = "randomForest")
saveRDS(rf, file.path(out, "rf_like.rds"))
cat(R.version$major, ".", R.version$minor, "\n", sep = "")
"""


@pytest.mark.docker
def test_r_corpus_written_by_real_r(tmp_path: Path, standin: Callable[[str], str]) -> None:
    out = tmp_path / "corpus"
    out.mkdir()
    out.chmod(0o777)
    (out / "make.R").write_text(R_CORPUS)
    made = subprocess.run(
        ["docker", "run", "--rm", "--init", "--network", "none", "--entrypoint", "Rscript",
         "-v", f"{out}:/out", standin("plumber"), "/out/make.R"],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    version = made.stdout.strip().splitlines()[-1]
    expected_rows = [{"wt": 2.62, "hp": 110.0}, {"wt": 2.875, "hp": 110.0}]
    for name in ("lm_v2.rds", "lm_xz.rds", "lm_bz.rds", "lm_plain.rds", "crate.bin"):
        info = plumber.describe(out / name)
        assert (info.writer, info.rows) == (version, expected_rows), name
    assert plumber.describe(out / "lm_v2.rds").min_reader == "2.3.0"
    glm = plumber.describe(out / "glm.rds")
    assert [c[:2] for c in glm.columns] == [("cyl", "factor"), ("wt", "numeric"),
                                            ("disp", "numeric")]  # fmt: skip
    assert glm.rows is not None and glm.rows[0]["cyl"] == "6"  # a level, as R reads it
    misc = rds.read(out / "misc.rds").root
    assert isinstance(misc, rds.RObj) and misc.get("seq").length == 100000
    assert misc.get("s").value == ["a", "b", "c"] and misc.get("s").names == ["x", "y", "z"]
    assert plumber.describe(out / "s4.rds").classes == ["Pt"]
    assert plumber.describe(out / "nls.rds").rows is None  # no formula terms: left to the user
    assert plumber.describe(out / "rf_like.rds").packages == ["randomForest"]


def test_r_packages_become_the_r_packages_answer(tmp_path: Path) -> None:
    from scaffold.generate import new_project

    source = TEMPLATES / "plumber" / "model" / "model.rds"
    result = new_project(
        tmp_path / "r-ep", {"server": "plumber"}, model=str(source), model_inspect="none"
    )
    assert result.answers["r_packages"] == []
    notes = json.dumps(result.notes)
    assert "written by R" in notes and "sample_response.json was not recorded" in notes


# --- TorchScript files as users save them (hold-out review) ---------------------------------------
def _two_inputs() -> Any:
    import torch

    class TextHead(torch.nn.Module):
        """Token ids + a float feature row: the shape of a small BERT-like head."""

        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(50, 4)
            self.num = torch.nn.Linear(3, 4)
            self.out = torch.nn.Linear(4, 2)

        def forward(self, input_ids: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
            return self.out(self.emb(input_ids).mean(1) + self.num(extra))

    return TextHead().eval()


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_inputs_are_read_from_its_code(tmp_path: Path, how: str) -> None:
    """forward()'s arguments come from the TorchScript code, what each takes from the layer
    it feeds (an Embedding: int64 ids below its size; a Linear: float rows its width)."""
    import torch

    model = _two_inputs()
    path = tmp_path / "head.pt"
    if how == "script":
        torch.jit.script(model).save(str(path))
    else:
        example = (torch.tensor([[1, 2, 3]]), torch.zeros(1, 3))
        torch.jit.trace(model, example).save(str(path))
    inputs = read_inputs(path)
    assert inputs == [Input("input_ids", "int64", 50), Input("extra", "float32", 3)]
    instances = sample_instances(inputs)
    assert instances is not None and set(instances[0]) == {"input_ids", "extra"}
    ids = torch.tensor([row["input_ids"] for row in instances])
    extra = torch.tensor([row["extra"] for row in instances])
    assert model(ids, extra).shape == (2, 2)  # the samples are what the model takes


def test_a_convolution_input_is_left_to_the_user(tmp_path: Path) -> None:
    import torch

    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 2))
    path = tmp_path / "cnn.pt"
    torch.jit.trace(cnn.eval(), torch.zeros(1, 1, 4, 4)).save(str(path))
    inputs = read_inputs(path)
    assert inputs is not None and [i.dtype for i in inputs] == [""]
    assert sample_instances(inputs) is None


@pytest.mark.parametrize(
    ("save", "message"),
    [
        ("model", "an eager Sequential saved with torch.save(model)"),
        ("state_dict", "a state_dict (weights only"),
        ("checkpoint", "a checkpoint dict (epoch, model_state_dict"),
        ("legacy", "torch.save wrote in its legacy format"),
    ],
)
def test_files_torch_save_wrote_are_refused_with_the_export_to_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], save: str, message: str
) -> None:
    import torch

    mlp = torch.nn.Sequential(torch.nn.Linear(4, 3))
    path = tmp_path / "model.pth"
    if save == "model":
        torch.save(mlp, str(path))
    elif save == "state_dict":
        torch.save(mlp.state_dict(), str(path))
    elif save == "checkpoint":
        torch.save({"epoch": 3, "model_state_dict": mlp.state_dict()}, str(path))
    else:
        torch.save(mlp.state_dict(), str(path), _use_new_zipfile_serialization=False)
    line = new_refused(["--server", "torchserve", "--model", str(path)], tmp_path / "ep", capsys)
    assert message in line and "torch.jit.script(model).save('model.pt')" in line
