"""Domain events: an append-only log in the metadata store, durable subscribers, replay, and the
relay to NATS JetStream (``events: {backend: nats}`` in mesh.yaml; docs/EVENTS.md)."""

from meshfabric.events.log import DeadLetter, DeliveryReport, EventLog, Subscription, append
from meshfabric.events.model import DomainEvent, matches
from meshfabric.events.nats import EventBusUnavailable, Relay, RelayReport, start_relay

__all__ = [
    "DeadLetter", "DeliveryReport", "DomainEvent", "EventBusUnavailable", "EventLog", "Relay", "RelayReport",
    "Subscription", "append", "matches", "start_relay",
]
