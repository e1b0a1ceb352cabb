"""Schemathesis against the OpenAPI document: generated requests — valid and invalid bodies,
parameters and paths — to every operation, authenticated as an admin and as a plain user, never
get a 5xx. Bounded (few examples per operation) so the whole run stays well under two minutes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from auth_support import HS_AUTH, auth_workspace, bearer, hs_token, secret_env
from helpers import MESH_YAML
from meshfabric import Mesh
from meshfabric.api.app import create_app

ACCESS = "access:\n  admins: [local, ops]\n"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with pytest.MonkeyPatch.context() as mp, secret_env():
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root: Path = auth_workspace(tmp_path_factory.mktemp("fuzz") / "ws", ACCESS + HS_AUTH)
        assert (root / "mesh.yaml").read_text().startswith(MESH_YAML)
        m = Mesh.open(root)
        m.apply()
        m.access.create_principal("ops")
        m.access.create_principal("alice")
        m.access.grant("alice", "query", product="sales.orders", grantee_kind="user")
        m.contracts.generate("sales.orders", "crm", save=True)
        m.quality.run("sales.orders")
        try:
            yield m
        finally:
            m.close()


@pytest.fixture(scope="module")
def api_schema(mesh: Mesh) -> Any:
    with secret_env():
        app = create_app(mesh)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


HEADERS = {"admin": bearer(hs_token(sub="ops", exp=2**31 - 1)), "user": bearer(hs_token(sub="alice", exp=2**31 - 1))}
FUZZ = settings(max_examples=6, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def _fuzz(schema: Any, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Every operation, with valid (positive) and invalid (negative) generated requests; the 5xx
    responses found, each with a curl command that replays it."""
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    calls = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @FUZZ
            def run(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call(headers=headers)
                try:
                    case.validate_response(response, checks=[not_a_server_error])
                except Exception as exc:
                    failures.append(f"{case.operation.label}: {response.status_code} {exc}\n"
                                    f"  {case.as_curl_command(headers=headers)}")

            try:
                run()
            except Unsatisfiable:
                continue  # no invalid request exists for an operation without inputs
    return calls, failures


@pytest.mark.slow
@pytest.mark.parametrize("who", list(HEADERS))
def test_no_server_errors(api_schema: Any, who: str) -> None:
    calls, failures = _fuzz(api_schema, HEADERS[who])
    assert calls >= 100
    assert not failures, "\n".join(failures[:20])
