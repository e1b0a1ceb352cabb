"""``serve``: the REST API (OpenAPI at /docs)."""

from __future__ import annotations

import typer

from meshfabric.cli._common import console, open_mesh

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback only until authentication lands)."),
    port: int = typer.Option(8420, help="Port to listen on."),
) -> None:
    """Serve the REST API and deliver events to subscribers in the background."""
    from meshfabric.errors import ConfigError

    if host not in LOOPBACK:
        raise ConfigError(
            f"refusing to bind {host}: the API has no authentication yet, so it serves loopback only",
            hint="use --host 127.0.0.1 and a reverse proxy with authentication",
        )
    import uvicorn

    from meshfabric.api.app import create_app

    mesh = open_mesh()
    mesh.events.start()
    console.print(f"meshfabric API on http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs)")
    try:
        uvicorn.run(create_app(mesh), host=host, port=port, log_level="warning")
    finally:
        mesh.close()
