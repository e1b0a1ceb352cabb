"""REST authentication overhead: the same request without authentication, with a JWT and with
an API key, in one process.

What it measures
    The standard test workspace (three products) with an HS256 ``auth:`` section, one principal
    granted every product, on a SQLite store. ``--requests`` requests through FastAPI's
    in-process TestClient for each variant, interleaved in rounds so all see
    the same load: ``none`` (``create_app(mesh, auth=False)``), ``jwt`` (Bearer token: signature,
    claims, revocation lookup, principal lookup), ``apikey`` (X-API-Key: hash, row lookup,
    principal lookup). Two endpoints: POST /api/v1/schemas/check, whose work does not depend on the
    principal (the difference is authentication alone), and GET /api/v1/products/sales.orders
    (authentication plus the access layer acting for the principal instead of the local admin).
    Also ``AuthService.authenticate`` alone for each credential. Printed: median and p95 ms per
    request and the ratio to ``none``. Nothing is asserted.

How to run::

    .venv/bin/python benchmarks/auth.py [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from auth_support import SECRET, SECRET_ENV, auth_workspace
    from meshfabric import Mesh
    from meshfabric.api.app import create_app

    os.environ[SECRET_ENV] = SECRET
    os.environ.pop("MESHFABRIC_STORE_URL", None)
    with tempfile.TemporaryDirectory() as tmp:
        root = auth_workspace(Path(tmp) / "ws")
        mesh = Mesh.open(root)
        mesh.apply()
        mesh.access.create_principal("alice")
        for fqn in ("sales.orders", "crm.customers", "logistics.shipments"):
            mesh.access.grant("alice", "query", product=fqn, grantee_kind="user")
        auth = mesh.auth
        token = auth.issue_token("alice", ttl="1h").token
        key = auth.create_api_key("alice").key
        variants: dict[str, tuple[TestClient, dict[str, str]]] = {
            "none": (TestClient(create_app(mesh, auth=False)), {}),
            "jwt": (TestClient(create_app(mesh)), {"Authorization": f"Bearer {token}"}),
            "apikey": (TestClient(create_app(mesh)), {"X-API-Key": key}),
        }
        probes = {
            # authentication alone: the endpoint itself does not depend on the principal
            "schemas/check": ("POST", "/api/v1/schemas/check", {"new": [{"name": "id", "type": "bigint"}],
                                                                "previous": [[{"name": "id", "type": "int"}]]}),
            # authentication + the access layer acting for the principal
            "products/{fqn}": ("GET", "/api/v1/products/sales.orders", None),
        }
        times: dict[tuple[str, str], list[float]] = {}
        for probe, (method, path, body) in probes.items():
            for client, headers in variants.values():  # warm up
                for _ in range(10):
                    assert client.request(method, path, headers=headers, json=body).status_code == 200
            for _ in range(args.requests):
                for name, (client, headers) in variants.items():
                    start = time.perf_counter()
                    r = client.request(method, path, headers=headers, json=body)
                    times.setdefault((probe, name), []).append(time.perf_counter() - start)
                    assert r.status_code == 200, r.text

        alone: dict[str, list[float]] = {"jwt": [], "apikey": []}
        calls: dict[str, Any] = {"jwt": lambda: auth.authenticate(f"Bearer {token}"),
                                 "apikey": lambda: auth.authenticate(None, key)}
        for _ in range(args.requests):
            for name, call in calls.items():
                start = time.perf_counter()
                assert call() == "alice"
                alone[name].append(time.perf_counter() - start)
        mesh.close()

    print(f"{args.requests} requests per variant, SQLite store, in-process client")
    print(f"{'endpoint':<16}{'variant':<10}{'median ms':>12}{'p95 ms':>10}{'ratio':>8}")
    for probe in probes:
        base, _ = _ms(times[(probe, "none")])
        for name in variants:
            median, p95 = _ms(times[(probe, name)])
            print(f"{probe:<16}{name:<10}{median:>12.2f}{p95:>10.2f}{median / base:>8.2f}")
    print("authenticate() alone:")
    for name, samples in alone.items():
        median, p95 = _ms(samples)
        print(f"  {name:<8}{median:>10.2f} ms median {p95:>8.2f} ms p95")


if __name__ == "__main__":
    main()
