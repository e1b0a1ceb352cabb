"""``serve``: the REST API (OpenAPI at /docs), authenticated by default."""

from __future__ import annotations

import gc
from collections.abc import Callable

import typer

from meshfabric.cli._common import console, open_mesh

LOOPBACK = {"localhost"}


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def is_loopback(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` and ``localhost``; every other name or address may be reachable.

    >>> [is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "localhost", "0.0.0.0", "example.com")]
    [True, True, True, True, False, False]
    """
    import ipaddress

    if host.lower() in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8420, min=0, max=65535, help="Port to listen on."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Serve without authentication, as the local principal (loopback addresses only).",
    ),
    observe: bool = typer.Option(True, "--observe/--no-observe",
                                 help="Run probes, scheduled quality checks and SLO evaluation in the background."),
) -> None:
    """Serve the REST API; in the background deliver events to subscribers, relay them to NATS
    (events: {backend: nats}) and run the observability scheduler (probes, quality, SLOs) and the
    refresh of stale planner statistics.

    Every endpoint but /api/v1/health and the OpenAPI pages needs a JWT or an API key
    (`meshfabric token create`, `meshfabric apikey create`).
    """
    from meshfabric.errors import ConfigError

    if no_auth and not is_loopback(host):
        raise ConfigError(
            f"refusing to bind {host} with --no-auth: anyone who reaches that address would act as the "
            "workspace's local principal",
            hint="drop --no-auth (clients then send a token or API key), or bind --host 127.0.0.1",
        )
    import uvicorn

    from meshfabric.api.app import create_app
    from meshfabric.events.nats import start_relay
    from meshfabric.observe.scheduler import start_scheduler

    mesh = open_mesh()
    stops: list[Callable[[], None]] = []
    try:
        app = create_app(mesh, auth=not no_auth)
        if no_auth:
            # without authentication the server answers only to loopback names: a web page that
            # points another name at 127.0.0.1 (DNS rebinding) gets 400, not the local principal
            from starlette.middleware.trustedhost import TrustedHostMiddleware

            app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "::1", "[::1]"])
        mesh.events.start()
        stops.append(start_relay(mesh))  # events: {backend: nats} relays the log to JetStream
        if observe:
            stops.append(start_scheduler(mesh))  # probes, quality runs, SLO evaluation, compaction
            stops.append(mesh.stats.start())  # the planner's statistics, refreshed when stale
        mesh.metrics.warm()  # /metrics is rendered before the first scrape asks
        console.print(f"meshfabric on http://{host}:{port}/  (the web UI; API under /api/v1, "
                      f"OpenAPI: http://{host}:{port}/docs)")
        console.print(_auth_summary(app.state.auth))
        # what start-up loaded (modules, the app, the mesh) lives as long as the server: kept out
        # of the collector's full passes, which took ~80-130 ms each over it on the 2-core test
        # machine (p99 spikes of search requests), they cost nothing
        gc.collect()
        gc.freeze()
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        for stop in reversed(stops):
            stop()
        mesh.close()


def _auth_summary(service: object | None) -> str:
    if service is None:
        return "no authentication: every request acts as the local principal"
    spec = service.spec  # type: ignore[attr-defined]
    if not service.verifier.enabled:  # type: ignore[attr-defined]
        return "authentication required: API keys only (no JWT key in auth:)"
    return (f"authentication required: API keys, or JWTs ({', '.join(spec.algorithms)}, "
            f"iss {spec.issuer}, aud {spec.audience})")
