"""``events list|tail|dead|relay``."""

from __future__ import annotations

import contextlib
from datetime import datetime

import typer
from rich.text import Text

from meshfabric.cli._common import JsonOpt, console, open_mesh, print_json, table


def register(app: typer.Typer) -> None:
    events = typer.Typer(help="The domain event log.", no_args_is_help=True)
    events.command("list")(events_list)
    events.command("tail")(events_tail)
    events.command("dead")(events_dead)
    events.command("relay")(events_relay)
    app.add_typer(events, name="events")


def _since(value: str | None, option: str) -> datetime | None:
    from datetime import UTC

    from meshfabric.errors import ConfigError

    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{option} '{value}' is not an ISO date/time", hint="e.g. 2026-11-27 or 2026-11-27T08:00"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def events_list(
    event_type: str = typer.Option(None, "--type", "-t", help="Event type, or a family like 'product.*'."),
    domain: str = typer.Option(None, "--domain", "-d"),
    correlation: str = typer.Option(None, "--correlation", help="Only events of one correlation id."),
    since: str = typer.Option(None, "--since", help="ISO date/time (inclusive)."),
    until: str = typer.Option(None, "--until", help="ISO date/time (exclusive)."),
    limit: int = typer.Option(50, "--limit", "-n"),
    as_json: bool = JsonOpt,
) -> None:
    """List events, newest last."""
    with open_mesh(applied=True) as mesh:
        items = mesh.events.list(event_type=event_type, domain=domain, correlation_id=correlation,
                                 since=_since(since, "--since"), until=_since(until, "--until"),
                                 limit=limit, newest_first=True)
    items.reverse()
    if as_json:
        print_json([e.to_dict() for e in items])
        return
    console.print(table("events", ["seq", "time", "type", "domain", "data", "correlation"],
                        [[e.seq, e.timestamp.strftime("%Y-%m-%d %H:%M:%S"), e.event_type, e.domain or "",
                          _brief(e.data), e.correlation_id[:8]] for e in items]))


def _brief(data: dict[str, object]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in data.items() if not isinstance(v, list | dict))
    return text[:80]


def events_tail(
    event_type: str = typer.Option(None, "--type", "-t"),
    last: int = typer.Option(10, "--last", "-n", help="Print the last N events first."),
    since: str = typer.Option(None, "--since", help="Start at the first event at or after this ISO date/time."),
    as_json: bool = JsonOpt,
) -> None:
    """Follow the event log, printing events as they are appended (Ctrl-C stops).

    With `events: {backend: nats}` in mesh.yaml the events come from NATS JetStream."""
    from meshfabric.events import matches

    with open_mesh() as mesh:
        start = max(mesh.events.last_seq() - last, 0)
        if since is not None:
            first = mesh.events.list(since=_since(since, "--since"), limit=1)
            start = (first[0].seq or 1) - 1 if first else mesh.events.last_seq()
        for e in mesh.events.iter_new(start):
            if event_type and not matches(event_type, e.event_type):
                continue
            if as_json:
                import json

                typer.echo(json.dumps(e.to_dict(), default=str))
            else:
                console.print(Text(f"{e.seq:>6} {e.timestamp:%H:%M:%S} {e.event_type:<24} {e.domain or '':<12} "
                                   f"{_brief(e.data)}"))


def events_relay(
    once: bool = typer.Option(False, "--once", help="Publish what is pending, then stop."),
    every: float = typer.Option(1.0, "--every", min=0.01, help="Seconds between polls of the store when idle."),
    as_json: bool = JsonOpt,
) -> None:
    """Relay committed events from the store to NATS JetStream (`events: {backend: nats}` in mesh.yaml).

    Publishes in log order with the event id as message id, advancing its offset only after
    JetStream acked: NATS down loses nothing (it retries with backoff and catches up), and a crash
    re-sends at most one batch, which JetStream drops as duplicates."""
    with open_mesh() as mesh:
        if once:
            report = mesh.events.relay(once=True)
            assert report is not None
            if as_json:
                print_json(report.to_dict())
            elif report.standby:
                console.print("another relay holds the lease on this store; it publishes, this one did nothing")
            else:
                console.print(f"published {report.published} events in {report.batches} batches "
                              f"({report.duplicates} already in JetStream), offset {report.offset}")
            return
        spec = mesh.events.nats
        if spec is not None and not as_json:
            console.print(f"relaying to {spec.url}, stream {spec.stream}, subjects {spec.subject_prefix}.> "
                          "(Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            mesh.events.relay(every=every)


def events_dead(subscriber: str = typer.Option(None, "--subscriber"), as_json: bool = JsonOpt) -> None:
    """List dead-lettered deliveries (handlers that kept failing)."""
    with open_mesh(applied=True) as mesh:
        items = mesh.events.dead_letters(subscriber)
    if as_json:
        print_json([{"subscriber": d.subscriber, "event": d.event.to_dict(), "attempts": d.attempts,
                     "error": d.error} for d in items])
        return
    console.print(table("dead letters", ["subscriber", "event", "type", "attempts", "error"],
                        [[d.subscriber, d.event.seq, d.event.event_type, d.attempts, d.error] for d in items]))
