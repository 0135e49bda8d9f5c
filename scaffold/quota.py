"""VM quota before a deployment is created: does the subscription have the vCPUs of the
instance type's VM family free in the workspace's region?

Azure ML reserves 20% of a deployment's compute for upgrades, so a deployment of N instances
needs `ceil(1.2 x N) x vCPUs` of the family's quota free (how-to-manage-quotas, "Virtual
machine quota allocation for deployment"; the service's own refusal says e.g. "Not enough
quota available for Standard_DS3_v2 ... Current usage/limit: 0/6. Additional needed: 8" for
one 4-vCPU instance). Updating a deployment in place frees its current instances of the same
family, so only the difference is needed then. Both the family's quota (`Standard DSv2
Family Cluster Dedicated vCPUs`) and the region's total (`Total Cluster Dedicated Regional
vCPUs`) must cover it.

The numbers come from azure-ai-ml's usage and VM size listings (`ml_client.compute.
list_usage`, `list_sizes`); a size's family and vCPUs from `templates/_instance_types.json`
(through `scaffold.instances`), else from the size listing. When the usage cannot be read
(no permission, another cloud), the check is skipped with a note and Azure decides.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scaffold.errors import AzureError

if TYPE_CHECKING:
    from scaffold.deploy import DeployPlan
    from scaffold.localrun import Reporter

#: Azure ML reserves this share of a deployment's instances for upgrades.
UPGRADE_RESERVE = 1.2
REGIONAL_USAGE = "Total Cluster Dedicated Regional vCPUs"


def needed_vcpus(vcpus: int, count: int, *, replacing: int = 0) -> int:
    """vCPUs a deployment of `count` instances needs free: ceil(1.2 x count) x vcpus, less
    the `replacing` vCPUs of the same family the deployment already holds."""
    return max(0, math.ceil(UPGRADE_RESERVE * count) * vcpus - replacing)


@dataclass(frozen=True)
class QuotaCheck:
    """The numbers of one check (None where Azure did not say)."""

    instance_type: str
    instance_count: int
    vcpus: int
    usage_name: str
    needed: int
    family_used: int | None = None
    family_limit: int | None = None
    regional_used: int | None = None
    regional_limit: int | None = None
    replacing: int = 0
    #: Why nothing was checked ("" when checked).
    skipped: str = ""

    @staticmethod
    def _free(used: int | None, limit: int | None) -> int | None:
        if used is None or limit is None or limit < 0:  # -1: no limit
            return None
        return limit - used

    @property
    def family_free(self) -> int | None:
        """vCPUs of the family free (None: unknown or unlimited)."""
        return self._free(self.family_used, self.family_limit)

    @property
    def regional_free(self) -> int | None:
        """vCPUs of the region's total free (None: unknown or unlimited)."""
        return self._free(self.regional_used, self.regional_limit)

    @property
    def ok(self) -> bool:
        """Whether both quotas cover the deployment (True when unknown)."""
        return all(
            free is None or free >= self.needed for free in (self.family_free, self.regional_free)
        )

    def formula(self) -> str:
        """`ceil(1.2 x 2) x 4 = 12 vCPUs` (less what an update frees)."""
        text = (
            f"ceil(1.2 x {self.instance_count}) x {self.vcpus}"
            f"{f' - {self.replacing}' if self.replacing else ''} = {self.needed} vCPUs"
        )
        return text

    def summary(self) -> str:
        """One line for the console."""
        if self.skipped:
            return f"quota not checked: {self.skipped}"
        parts = [f"needs {self.formula()} of {self.usage_name}"]
        if self.family_free is not None:
            parts.append(f"{self.family_free} free (usage {self.family_used}/{self.family_limit})")
        if self.regional_free is not None:
            parts.append(
                f"region {self.regional_free} free (usage "
                f"{self.regional_used}/{self.regional_limit})"
            )
        return "quota: " + ", ".join(parts)


def _get(item: Any, *names: str) -> Any:
    """An attribute of an SDK entity under any of its spellings (azure-ai-ml copies the REST
    model's dict into the entity, so `current_value` may be None and `currentValue` set)."""
    for name in names:
        value = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
        if value is not None:
            return value
    return None


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _usage_label(usage: Any) -> str:
    name = _get(usage, "name")
    if isinstance(name, dict) or hasattr(name, "value"):
        return str(_get(name, "value", "localized_value", "localizedValue") or "")
    return str(name or "")


def _find(usages: Iterable[Any], wanted: str) -> tuple[int, int] | None:
    """(used, limit) of the subscription's usage named `wanted` in the region. The listing
    repeats each name per workspace and per compute (Usage/list.json: ids under
    `/workspaces/<name>/...`) with that scope's part only; the quota is the subscription's
    entry, whatever the order."""
    target = _normal(wanted)
    found: list[tuple[bool, int, int]] = []
    for usage in usages:
        label = _usage_label(usage)
        ident = str(_get(usage, "id") or "")
        if target in {_normal(label), _normal(ident.rsplit("/", 1)[-1])}:
            used, limit = _get(usage, "current_value", "currentValue"), _get(usage, "limit")
            if used is not None and limit is not None:
                scoped = "/workspaces/" in ident.lower() or "/computes/" in ident.lower()
                found.append((scoped, int(used), int(limit)))
    if not found:
        return None
    _, used, limit = min(found, key=lambda entry: entry[0])  # the subscription's first
    return used, limit


def usage_name_of_family(family: str) -> str:
    """`standardDSv2Family` -> `Standard DSv2 Family Cluster Dedicated vCPUs`."""
    core = family[len("standard") :] if family.lower().startswith("standard") else family
    core = core.strip()
    core = core[: -len("family")].strip() if core.lower().endswith("family") else core
    return f"Standard {core} Family Cluster Dedicated vCPUs"


def _size(client: Any, instance_type: str) -> tuple[int, str] | None:
    """(vCPUs, quota usage name) of a size: the facts file, else Azure's size listing."""
    from scaffold import instances

    known = instances.lookup(instance_type)
    if known is not None and known.quota_usage:
        return known.vcpus, known.quota_usage
    from scaffold.deploy import sdk_quiet

    try:
        with sdk_quiet():
            sizes = list(client.compute.list_sizes())
    except Exception:
        return None
    for size in sizes:
        if str(_get(size, "name") or "").lower() == instance_type.lower():
            vcpus, family = _get(size, "v_cp_us", "vCPUs", "vcpus"), _get(size, "family")
            if vcpus and family:
                return int(vcpus), usage_name_of_family(str(family))
    return None


def check_quota(
    client: Any,
    instance_type: str,
    instance_count: int,
    *,
    replacing: tuple[str, int] | None = None,
) -> QuotaCheck:
    """The quota numbers for `instance_count` x `instance_type` in the workspace's region;
    `replacing` is the (instance type, count) of the deployment this one updates."""
    from azure.core.exceptions import AzureError as CoreError

    from scaffold.deploy import sdk_quiet

    size = _size(client, instance_type)
    if size is None:
        return QuotaCheck(
            instance_type,
            instance_count,
            0,
            "",
            0,
            skipped=f"{instance_type} is not a known VM size",
        )
    vcpus, usage_name = size
    freed = 0
    if replacing is not None:
        old = _size(client, replacing[0])
        if old is not None and old[1] == usage_name:
            freed = old[0] * replacing[1]
    needed = needed_vcpus(vcpus, instance_count, replacing=freed)
    try:
        with sdk_quiet():
            usages = list(client.compute.list_usage())
    except CoreError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return QuotaCheck(
            instance_type,
            instance_count,
            vcpus,
            usage_name,
            needed,
            replacing=freed,
            skipped=f"cannot read the usage ({reason})",
        )
    family = _find(usages, usage_name)
    regional = _find(usages, REGIONAL_USAGE)
    return QuotaCheck(
        instance_type,
        instance_count,
        vcpus,
        usage_name,
        needed,
        family_used=family[0] if family else None,
        family_limit=family[1] if family else None,
        regional_used=regional[0] if regional else None,
        regional_limit=regional[1] if regional else None,
        replacing=freed,
        skipped="" if family or regional else f"the usage lists no {usage_name}",
    )


def _existing(client: Any, plan: DeployPlan) -> tuple[str, int] | None:
    from azure.core.exceptions import AzureError as CoreError

    from scaffold.deploy import sdk_quiet

    try:
        with sdk_quiet():
            found = client.online_deployments.get(
                name=plan.deployment_name, endpoint_name=plan.endpoint_name
            )
    except CoreError:
        return None
    return str(found.instance_type or ""), int(found.instance_count or 0)


def require_quota(plan: DeployPlan, client: Any, reporter: Reporter) -> QuotaCheck:
    """Check the quota for the plan's deployment; AzureError with the numbers and the fix
    when it does not fit (nothing has been created at that point)."""
    instance_type = str(plan.deployment.instance_type or "")
    count = int(plan.deployment.instance_count or 1)
    result = check_quota(client, instance_type, count, replacing=_existing(client, plan))
    reporter.detail(result.summary(), important=True)
    if result.ok:
        return result
    short = []
    if result.family_free is not None and result.family_free < result.needed:
        short.append(
            f"{result.family_free} of {result.usage_name} free (usage "
            f"{result.family_used}/{result.family_limit})"
        )
    if result.regional_free is not None and result.regional_free < result.needed:
        short.append(
            f"{result.regional_free} of the region's {REGIONAL_USAGE} free (usage "
            f"{result.regional_used}/{result.regional_limit})"
        )
    raise AzureError(
        f"not enough VM quota for {count} x {instance_type}: it needs {result.formula()} free "
        f"(Azure reserves 20% for upgrades), only {' and '.join(short)}; lower instance_count "
        f"or choose a smaller instance_type in deployment.yml, delete deployments you no "
        f"longer use, or request more '{result.usage_name}' quota (Azure ML studio > Quota); "
        "nothing was created (--no-quota-check leaves the check to Azure)"
    )
