"""The answer to one access question: may this principal do this action to this product, and
what of the product's data may it see while doing so.

Services ask :meth:`meshfabric.access.service.AccessService.decide` once per action and resource
and then shape what they return with the :class:`Decision` — nothing above the service layer
(a REST route, a CLI command) decides anything about access.

Values measured from a product's data (quality observations, counts, samples, profile
statistics, alert values) are visible only to a principal that could read the same values
through a query: it holds ``query``, and neither a row filter (a count over all rows tells how
many rows are hidden) nor a mask on a column the value was measured over stands between it and
the data.

>>> from meshfabric.access.model import Principal
>>> from meshfabric.access.policy import AppliedMask, EffectivePolicy
>>> masked = EffectivePolicy("hr.people", "ana", {"salary": AppliedMask("salary", "null", "pay", (0, 3))})
>>> d = Decision(Principal("ana"), "quality.read", "hr.people", 2, masked)
>>> d.sees_values(["name"]), d.sees_values(["salary"]), d.sees_values(None)
(True, False, False)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshfabric.access.model import Principal, level

if TYPE_CHECKING:
    from meshfabric.access.policy import EffectivePolicy


@dataclass(frozen=True)
class Decision:
    """An allowed action: who, what, on which product (canonical name), the strongest permission
    held (``level``: 1 discover … 4 admin) and the masks and row filter that apply to it."""

    principal: Principal
    action: str
    product: str | None
    level: int
    policy: EffectivePolicy | None = None

    @property
    def exempt(self) -> bool:
        """A workspace admin: no masks, no filters."""
        return self.principal.is_admin

    @property
    def restricted(self) -> bool:
        """Masks or a row filter stand between this principal and the product's data."""
        if self.exempt or self.policy is None:
            return False
        return self.policy.row_filter is not None or bool(self.masked_columns)

    @property
    def masked_columns(self) -> set[str]:
        if self.exempt or self.policy is None:
            return set()
        return {name.lower() for name, m in self.policy.masks.items() if m.mask != "clear"}

    def may(self, permission: str) -> bool:
        return self.exempt or self.level >= level(permission)

    def sees_values(self, columns: Iterable[str] | None) -> bool:
        """Whether values measured over ``columns`` (None: the whole table or arbitrary SQL)
        may be shown: the principal holds ``query``, has no row filter, and no mask on those
        columns (on any column when ``columns`` is None)."""
        if self.exempt:
            return True
        if self.level < level("query"):
            return False
        if self.policy is None:
            return True
        if self.policy.row_filter is not None:
            return False
        masked = self.masked_columns
        if columns is None:
            return not masked
        return not any(c.lower() in masked for c in columns)
