"""The Azure VM sizes (instance types) managed online endpoints run: vCPUs, memory, GPUs.

The facts live in one data file beside the server facts, `templates/_instance_types.json`,
so checks never hard-code a family: `scaffold validate` (unknown sizes, GPU images on CPU
sizes, tensor parallelism against the GPUs), `run`/`loadtest` (the container gets the CPU
and memory of the size) and `deploy` (quota per VM family) all read them through here.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import NamedTuple

from scaffold.servers import facts_file

INSTANCE_TYPES_FILE = "_instance_types.json"


class InstanceType(NamedTuple):
    """One VM size (a NamedTuple: cheap to import for `--help`)."""

    #: Azure's spelling, e.g. Standard_DS3_v2 (names compare case-insensitively).
    name: str
    vcpus: int
    memory_gib: float
    #: GPUs of the VM; a fraction for sizes that get part of one GPU (NVadsA10v5).
    gpus: float = 0
    gpu_model: str = ""
    #: GPU memory the VM gets in all, GiB.
    gpu_memory_gib: float = 0
    #: The VM series, e.g. DSv2, NCasT4v3.
    series: str = ""

    @property
    def has_gpu(self) -> bool:
        """Whether the VM has (part of) a GPU."""
        return self.gpus > 0


@cache
def instance_types() -> dict[str, InstanceType]:
    """Every known size, keyed by its upper-case name."""
    path = facts_file().with_name(INSTANCE_TYPES_FILE)
    table = json.loads(path.read_text(encoding="utf-8"))["types"]
    return {
        name.upper(): InstanceType(name=name, **{k: v for k, v in facts.items() if k != "name"})
        for name, facts in table.items()
    }


def lookup(name: str) -> InstanceType | None:
    """The size called `name` (any case), or None when it is not a managed-endpoint size."""
    return instance_types().get(name.strip().upper())


def smallest_gpu_size() -> InstanceType:
    """The smallest size with a whole GPU (fewest vCPUs), to name in messages."""
    sizes = [t for t in instance_types().values() if t.gpus >= 1]
    return min(sizes, key=lambda t: (t.vcpus, t.memory_gib, t.name))


class GpuOnlyImage(NamedTuple):
    """An image that needs a GPU (`gpu_only_images` in the instance facts)."""

    #: What the image is, e.g. "vLLM's official image (a CUDA build)".
    what: str
    #: What to use on a CPU size instead.
    alternative: str


@cache
def _gpu_only_table() -> tuple[re.Pattern[str], list[tuple[re.Pattern[str], GpuOnlyImage]]]:
    path = facts_file().with_name(INSTANCE_TYPES_FILE)
    table = json.loads(path.read_text(encoding="utf-8"))["gpu_only_images"]
    patterns = [
        (re.compile(entry["pattern"], re.I), GpuOnlyImage(entry["what"], entry["alternative"]))
        for entry in table["patterns"]
    ]
    return re.compile(table["unless"], re.I), patterns


def gpu_only_image(reference: str) -> GpuOnlyImage | None:
    """Whether an image reference (or environment name) needs a GPU to start, per the facts;
    None when it does not or is not known to (a CPU build always is fine)."""
    unless, patterns = _gpu_only_table()
    if unless.search(reference):
        return None
    return next((found for pattern, found in patterns if pattern.search(reference)), None)
