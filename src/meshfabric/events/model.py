"""The domain event: one immutable fact about a change in the mesh."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class DomainEvent:
    event_type: str
    domain: str | None
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: groups every event caused by one user action (one apply, one quality run...)
    correlation_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: the id of the event that caused this one, if any
    causation_id: str | None = None
    #: position in the store's log; None until appended
    seq: int | None = None

    def caused(self, event_type: str, domain: str | None, data: dict[str, Any]) -> DomainEvent:
        """A follow-up event in the same correlation, caused by this one."""
        return DomainEvent(event_type, domain, data, correlation_id=self.correlation_id, causation_id=self.id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.id,
            "event_type": self.event_type,
            "domain": self.domain,
            "data": self.data,
            "timestamp": self.timestamp.isoformat(),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
        }


def matches(pattern: str, event_type: str) -> bool:
    """``*`` matches everything, ``product.*`` a family, anything else exactly.

    >>> matches("product.*", "product.created"), matches("product.*", "quality.failed")
    (True, False)
    """
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type
