"""`scaffold new --model` with a large model against `cp -r` of the same model, as ratios of
medians (runs interleaved, so a busy machine slows every side alike).

    python benchmarks/bench_new_model.py [--size-mb 1000] [--runs 5] [--lfs]

The model is a TF Serving SavedModel (the template's half_plus_two with its weights file
padded with random bytes to --size-mb), generated with `--model-inspect none` (nothing is
run). Printed:

- `cp -r` of the model, `scaffold new` without a model (the sample), and with the model;
- the model's own cost, (new with model - new without) / cp: target <= 1.2x (the model is
  copied once and never committed; the copy runs while copier renders);
- the whole command against the by-hand anchor "generate the sample, then cp -r the model
  in": new with model / (new without + cp): target <= 1.2x;
- with --lfs (needs git lfs), the same with `--large-files lfs`, for information: Git LFS's
  clean filter hashes and copies the weights into .git/lfs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAVEDMODEL = (
    REPO
    / "templates"
    / "tfserving"
    / "{% if not model_in_image and not models %}{{ served_model_name }}{% endif %}"
)


def _make_model(work: Path, size: int) -> Path:
    model = work / "big-savedmodel"
    shutil.copytree(SAVEDMODEL / "1", model)
    weights = model / "variables" / "variables.data-00000-of-00001"
    with weights.open("ab") as handle:
        left = size - weights.stat().st_size
        while left > 0:
            chunk = os.urandom(min(left, 1 << 24))
            handle.write(chunk)
            left -= len(chunk)
    return model


def _timed(command: list[str], cleanup: Path) -> float:
    shutil.rmtree(cleanup, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - start
    shutil.rmtree(cleanup, ignore_errors=True)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lfs", action="store_true", help="also time --large-files lfs")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="scaffold-bench-model-"))
    try:
        model = _make_model(work, args.size_mb * 1_000_000)
        dest = work / "bench-ep"
        scaffold = [sys.executable, "-m", "scaffold", "new", "-q", "--server", "tfserving"]
        with_model = [*scaffold, "--model", str(model), "--model-inspect", "none",
                      "--large-files", "ignore", str(dest)]  # fmt: skip
        sides: dict[str, list[str]] = {
            "cp -r": ["cp", "-r", str(model), str(dest)],
            "new (sample)": [*scaffold, str(dest)],
            "new --model": with_model,
        }
        if args.lfs:
            sides["new --model (lfs)"] = [*with_model[:-2], "lfs", str(dest)]
        _timed(sides["new --model"], dest)  # warm: the template cache, the page cache
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.runs):
            for name, command in sides.items():
                times[name].append(_timed(command, dest))
        median = {name: statistics.median(values) for name, values in times.items()}
        print(f"model: {args.size_mb} MB SavedModel, {args.runs} runs each, medians")
        for name, value in median.items():
            print(f"{name:<20} {value:7.2f} s")
        own = (median["new --model"] - median["new (sample)"]) / median["cp -r"]
        whole = median["new --model"] / (median["new (sample)"] + median["cp -r"])
        print(f"model's own cost / cp -r:                 ratio {own:5.2f}x  (target <= 1.2x)")
        print(f"new --model / (new sample + cp -r):        ratio {whole:5.2f}x  (target <= 1.2x)")
        if args.lfs:
            lfs = median["new --model (lfs)"] / (median["new (sample)"] + median["cp -r"])
            print(f"new --model --large-files lfs / anchor:    ratio {lfs:5.2f}x  (information)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
