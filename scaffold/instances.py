"""The Azure VM sizes (instance types) managed online endpoints run: vCPUs, memory, GPUs.

The facts live in one data file beside the server facts, `templates/_instance_types.json`,
so checks never hard-code a family: `scaffold validate` (unknown sizes, GPU images on CPU
sizes, tensor parallelism against the GPUs), `run`/`loadtest` (the container gets the CPU
and memory of the size) and `deploy` (quota per VM family, `scaffold.quota`) all read them
through here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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
    #: The VM family as Azure ML's VM size listing names it (`standardDSv2Family`).
    quota_family: str = ""
    #: That family's quota in Azure ML's usage listing
    #: (`Standard DSv2 Family Cluster Dedicated vCPUs`).
    quota_usage: str = ""

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


@cache
def _gpu_models() -> dict[str, float]:
    path = facts_file().with_name(INSTANCE_TYPES_FILE)
    table = json.loads(path.read_text(encoding="utf-8")).get("gpu_models", {})
    return {name: float(facts["compute_capability"]) for name, facts in table.items()}


def gpu_compute_capability(gpu_model: str) -> float | None:
    """CUDA compute capability of a GPU model (e.g. 8.0 for "A100"), None when unknown."""
    return _gpu_models().get(gpu_model)


def larger(name: str, *, by: str = "memory_gib") -> InstanceType | None:
    """The next size up from `name` in the same series by `by` (memory_gib or vcpus), else
    the smallest size of any series with more of it and no GPU change; None if none."""
    size = lookup(name)
    if size is None:
        return None
    amount = getattr(size, by)

    def bigger(other: InstanceType) -> bool:
        return bool(getattr(other, by) > amount and other.has_gpu == size.has_gpu)

    def key(other: InstanceType) -> tuple[float, float]:
        return (getattr(other, by), other.vcpus)

    same = sorted(
        (t for t in instance_types().values() if t.series == size.series and bigger(t)), key=key
    )
    if same:
        return same[0]
    others = sorted((t for t in instance_types().values() if bigger(t)), key=key)
    return others[0] if others else None


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


#: Memory left to the machine itself when an instance type has more than the machine.
MACHINE_RESERVE_GIB = 1.0


@dataclass(frozen=True)
class LocalResources:
    """The CPU and memory a local container gets for a deployment, and why."""

    #: Host CPUs the container may run on ("" = any), Docker's `--cpuset-cpus`.
    cpuset: str = ""
    #: CPUs the container may use in all (Docker's `--cpus`); 0 = no limit.
    cpus: float = 0.0
    #: Memory limit in bytes (Docker's `--memory`); 0 = no limit.
    memory_bytes: int = 0
    #: Host CPUs kept for the load client (and the front end), none when not separated.
    client_cpus: tuple[int, ...] = ()
    #: One line each: what was applied and what was capped.
    notes: tuple[str, ...] = ()

    @property
    def server_cpus(self) -> int:
        """How many CPUs the container gets."""
        return len(self.cpuset.split(",")) if self.cpuset else 0


def machine_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity; all of them where that is unknown)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def machine_memory_bytes() -> int:
    """Physical memory of the machine (0 when unknown)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def local_resources(instance_type: str, *, separate_client: bool = False) -> LocalResources:
    """What a local container of a deployment on `instance_type` gets: its vCPUs and memory,
    capped to this machine (and said so). With `separate_client`, the container is pinned to
    the highest CPUs and at least one CPU is kept apart for the load client."""
    found = lookup(instance_type) if instance_type else None
    cpus = machine_cpus()
    memory = machine_memory_bytes()
    notes: list[str] = []
    if found is None:
        what = (
            f"instance type {instance_type!r} is unknown" if instance_type else "no instance_type"
        )
        notes.append(f"{what}: the container gets this machine's CPU and memory")
        vcpus, wanted = len(cpus), 0
    else:
        vcpus, wanted = found.vcpus, int(found.memory_gib * 1024**3)
        notes.append(f"{found.name}: {found.vcpus} vCPUs, {found.memory_gib:g} GiB")
        if found.has_gpu:
            notes.append(f"{found.name} has {found.gpus:g} GPU(s) ({found.gpu_model}); none here")
    available = len(cpus) - (1 if separate_client and len(cpus) > 1 else 0)
    server = min(vcpus, available)
    client: tuple[int, ...] = ()
    cpuset = ""
    if separate_client and len(cpus) > 1:
        chosen = cpus[len(cpus) - server :]
        client = tuple(c for c in cpus if c not in chosen)
        cpuset = ",".join(map(str, chosen))
        notes.append(f"container on CPU {cpuset}, load client on CPU {','.join(map(str, client))}")
    elif separate_client:
        notes.append("one CPU only: the load client and the container share it")
    if found is not None and server < vcpus:
        notes.append(
            f"this machine gives it {server} of its {vcpus} vCPUs"
            + (" (one CPU is kept for the load client)" if client else "")
        )
    limit = 0
    if wanted:
        limit = wanted
        ceiling = memory - int(MACHINE_RESERVE_GIB * 1024**3)
        if memory and wanted > ceiling > 0:
            limit = ceiling
            notes.append(
                f"memory capped to {limit / 1024**3:.1f} GiB (this machine has "
                f"{memory / 1024**3:.1f} GiB)"
            )
    return LocalResources(cpuset, float(server), limit, client, tuple(notes))
