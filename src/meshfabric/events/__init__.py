"""Domain events: an append-only log in the metadata store, durable subscribers, replay."""

from meshfabric.events.log import DeadLetter, DeliveryReport, EventLog, Subscription, append
from meshfabric.events.model import DomainEvent, matches

__all__ = ["DeadLetter", "DeliveryReport", "DomainEvent", "EventLog", "Subscription", "append", "matches"]
