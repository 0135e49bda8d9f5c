"""`copy_model` (scan + copy: no link followed, secrets searched, dotfiles left out) against
`shutil.copytree` of the same model folder, the copy it replaced.

    python benchmarks/bench_model_copy.py [--runs N] [--big-mib 256] [--small 2000]

The model folder has one large weights file (`--big-mib`) and many small files
(`--small`, 4 KiB each: tokenizer, config and shard-index files), like a Hugging Face
download. Runs alternate (copytree, copy_model, copytree, ...) so that a shared machine's
load weighs on both; prints the median seconds of each and the median of the run-by-run
ratios (target <= 1.3x: the scan reads only small files, up to 64 MiB per model, and the
copy writes them from the bytes it searched; large files are copied with os.sendfile like
shutil does).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_model(folder: Path, big_mib: int, small: int) -> None:
    folder.mkdir(parents=True)
    with (folder / "model.safetensors").open("wb") as handle:
        block = os.urandom(1 << 20)
        for _ in range(big_mib):
            handle.write(block)
    shards = folder / "shards"
    shards.mkdir()
    for index in range(small):
        (shards / f"part-{index:05d}.json").write_bytes(os.urandom(4096).hex().encode()[:4096])


def timed(copy: Callable[[Path, Path], object], source: Path, target: Path) -> float:
    started = time.perf_counter()
    copy(source, target)
    elapsed = time.perf_counter() - started
    shutil.rmtree(target)
    return elapsed


def paired(
    anchor: Callable[[Path, Path], object],
    ours: Callable[[Path, Path], object],
    source: Path,
    work: Path,
    runs: int,
) -> tuple[list[float], list[float]]:
    """Alternate the two copies run by run (a shared machine's load then weighs on both
    alike), after one warm-up of each (page cache)."""
    timed(anchor, source, work / "warm-anchor")
    timed(ours, source, work / "warm-ours")
    first: list[float] = []
    second: list[float] = []
    for run in range(runs):
        first.append(timed(anchor, source, work / f"anchor-{run}"))
        second.append(timed(ours, source, work / f"ours-{run}"))
    return first, second


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--small", type=int, default=2000)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from scaffold.usermodel import copy_model

    with tempfile.TemporaryDirectory(prefix="bench-model-copy-") as tmp:
        work = Path(tmp)
        source = work / "model"
        make_model(source, args.big_mib, args.small)
        anchors, ours = paired(
            lambda s, t: shutil.copytree(s, t), copy_model, source, work, args.runs
        )
    ratios = [o / a for a, o in zip(anchors, ours, strict=True)]
    print(f"model: {args.big_mib} MiB weights + {args.small} small files, {args.runs} runs")
    print(f"shutil.copytree (anchor): {statistics.median(anchors):.3f} s (median)")
    print(f"copy_model:               {statistics.median(ours):.3f} s (median)")
    print(
        f"ratio: {statistics.median(ratios):.2f}x median of run-by-run ratios "
        f"({min(ratios):.2f}-{max(ratios):.2f}; target <= 1.3x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
