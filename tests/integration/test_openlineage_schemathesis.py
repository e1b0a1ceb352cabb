"""Schemathesis against the lineage operations of the OpenAPI document (OpenLineage intake, the
Marquez-shaped reads, raw events, upstream/downstream/impact/export): generated valid and invalid
requests never get a 5xx. Bounded so it stays quick."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from helpers import build_workspace
from meshfabric import Mesh
from meshfabric.api.app import create_app
from meshfabric.lineage.openlineage import ingest_openlineage

pytestmark = pytest.mark.slow
FUZZ = settings(max_examples=25, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root: Path = build_workspace(tmp_path_factory.mktemp("olfuzz") / "ws")
        mesh = Mesh.open(root)
        mesh.apply()
        ingest_openlineage(mesh, {
            "eventType": "COMPLETE", "eventTime": "2024-06-01T00:00:00Z", "producer": "https://example.com/p",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "af", "name": "j"},
            "inputs": [{"namespace": "meshfabric", "name": "sales.orders"}],
            "outputs": [{"namespace": "s3://b", "name": "x"}]})
        try:
            yield schemathesis.openapi.from_asgi("/openapi.json", create_app(mesh, auth=False))
        finally:
            mesh.close()


def test_lineage_operations_never_fail_with_a_server_error(api_schema: Any) -> None:
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    failures: list[str] = []
    calls = 0
    operations = [r.ok() for r in api_schema.get_all_operations()]
    mine = [op for op in operations if "lineage" in op.path]
    assert len(mine) >= 7
    for operation in mine:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @FUZZ
            def run(case: Any) -> None:
                nonlocal calls
                calls += 1
                response = case.call()
                try:
                    case.validate_response(response, checks=[not_a_server_error])
                except Exception as exc:
                    failures.append(f"{case.operation.label}: {response.status_code} {exc}\n  {case.as_curl_command()}")

            with contextlib.suppress(Unsatisfiable):
                run()
    assert calls > 10 * len(mine)
    assert not failures, "\n".join(failures[:10])
