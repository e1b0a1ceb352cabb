"""`meshfabric token …` and `meshfabric apikey …`: credentials issued by an admin, usable against
the API at once, shown once, revocable; bad input exits 2 with a message that says what to do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from auth_support import AUDIENCE, ISSUER, SECRET, auth_workspace, bearer, secret_env
from helpers import MESH_YAML, build_workspace, cli, flat, store_dump_text
from meshfabric import Mesh
from meshfabric.api.app import create_app


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp, secret_env():
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root = auth_workspace(tmp_path / "ws")
        with Mesh.open(root) as mesh:
            mesh.apply()
            mesh.access.create_principal("alice")
            mesh.access.create_principal("etl", kind="service")
        yield root


def _api(root: Path) -> tuple[Mesh, TestClient]:
    mesh = Mesh.open(root)
    return mesh, TestClient(create_app(mesh), raise_server_exceptions=False)


def test_token_create_issues_a_usable_token(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-w", ws, "token", "create", "--user", "alice", "--ttl", "15m")
    assert code == 0, err
    token = out.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 900
    assert claims["jti"] in err and "expires" in err
    mesh, client = _api(ws)
    with mesh, client:
        assert client.get("/api/v1/domains", headers=bearer(token)).status_code == 200

    code, out, _ = cli(capsys, "-w", ws, "token", "create", "--user", "alice", "--json")
    body = json.loads(out)
    assert code == 0 and set(body) == {"token", "jti", "subject", "expires_at"} and body["subject"] == "alice"


def test_token_revoke_by_jti_and_by_token(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = json.loads(cli(capsys, "-w", ws, "token", "create", "--user", "alice", "--json")[1])
    second = json.loads(cli(capsys, "-w", ws, "token", "create", "--user", "alice", "--json")[1])
    code, out, _ = cli(capsys, "-w", ws, "token", "revoke", first["jti"], "--reason", "left the team")
    assert code == 0 and f"revoked token {first['jti']}" in out
    code, out, _ = cli(capsys, "-w", ws, "token", "revoke", second["token"], "--json")
    assert code == 0 and json.loads(out)["jti"] == second["jti"]
    listed = json.loads(cli(capsys, "-w", ws, "token", "revoked", "--json")[1])
    assert {t["jti"]: t["reason"] for t in listed} == {first["jti"]: "left the team", second["jti"]: ""}
    mesh, client = _api(ws)
    with mesh, client:
        for token in (first["token"], second["token"]):
            assert client.get("/api/v1/domains", headers=bearer(token)).status_code == 401


def test_token_errors(ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "token", "create", "--user", "mallory")
    assert code == 2 and "no principal named 'mallory'" in err and "meshfabric users add mallory" in err
    code, _, err = cli(capsys, "-w", ws, "token", "create", "--user", "alice", "--ttl", "90d")
    assert code == 2 and "at most 30d" in err
    code, _, err = cli(capsys, "-w", ws, "token", "create", "--user", "alice", "--ttl", "soon")
    assert code == 2 and "not a duration" in err
    # no secret configured: the server cannot sign, and says how to set one up
    plain = build_workspace(tmp_path / "plain")
    with Mesh.open(plain) as mesh:
        mesh.access.create_principal("alice")
    code, _, err = cli(capsys, "-w", plain, "token", "create", "--user", "alice")
    assert code == 2 and "no HMAC secret" in flat(err) and "MF_JWT_SECRET" in flat(err)


def test_token_create_with_the_secret_unset(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MF_TEST_JWT_SECRET")
        code, _, err = cli(capsys, "-w", ws, "token", "create", "--user", "alice")
    assert code == 2 and "${MF_TEST_JWT_SECRET}, which is not set" in err


def test_apikey_lifecycle(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-w", ws, "apikey", "create", "--principal", "etl", "--expires", "90d",
                         "--name", "nightly load")
    assert code == 0, err
    key = out.strip()
    assert key.startswith("mf_") and "cannot be shown again" in flat(err)
    assert key not in store_dump_text(f"sqlite:///{ws / '.meshfabric' / 'store.db'}")

    listed = json.loads(cli(capsys, "-w", ws, "apikey", "list", "--json")[1])
    assert len(listed) == 1
    entry = listed[0]
    assert (entry["principal"], entry["name"], entry["status"]) == ("etl", "nightly load", "active")
    assert key.split("_")[1] == entry["id"] and "key" not in entry and entry["expires_at"]

    mesh, client = _api(ws)
    with mesh, client:
        assert client.get("/api/v1/domains", headers={"X-API-Key": key}).status_code == 200
        code, out, _ = cli(capsys, "-w", ws, "apikey", "list")
        assert code == 0 and "nightly load" in out and "active" in out
        code, out, _ = cli(capsys, "-w", ws, "apikey", "revoke", entry["id"])
        assert code == 0 and f"revoked API key {entry['id']} of 'etl'" in out
        assert client.get("/api/v1/domains", headers={"X-API-Key": key}).status_code == 401
    assert json.loads(cli(capsys, "-w", ws, "apikey", "list", "--json")[1]) == []
    revoked = json.loads(cli(capsys, "-w", ws, "apikey", "list", "--all", "--json")[1])
    assert [k["status"] for k in revoked] == ["revoked"] and revoked[0]["last_used_at"]


def test_apikey_errors(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "apikey", "create", "--principal", "nobody")
    assert code == 2 and "no principal named 'nobody'" in err
    code, _, err = cli(capsys, "-w", ws, "apikey", "create", "--principal", "etl", "--expires", "2001-01-01")
    assert code == 2 and "in the past" in err
    code, _, err = cli(capsys, "-w", ws, "apikey", "create", "--principal", "etl", "--expires", "whenever")
    assert code == 2 and "neither a duration nor a date" in err
    code, _, err = cli(capsys, "-w", ws, "apikey", "revoke", "0123456789abcdef")
    assert code == 2 and "no API key with id '0123456789abcdef'" in err
    code, out, _ = cli(capsys, "-w", ws, "apikey", "create", "--principal", "etl", "--expires", "2099-12-31", "--json")
    assert code == 0 and json.loads(out)["expires_at"].startswith("2099-12-31T00:00:00")


def test_only_admins_create_credentials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With an access: section that does not make the local principal an admin, every
    credential command is refused and nothing is written."""
    auth = "auth:\n  secret: ${MF_TEST_JWT_SECRET}\n"
    with secret_env():
        root = build_workspace(tmp_path / "ws", mesh=MESH_YAML + auth)
        with Mesh.open(root) as mesh:
            mesh.access.create_principal("alice")
        (root / "mesh.yaml").write_text(MESH_YAML + "access:\n  local_principal: bob\n  admins: [ops]\n" + auth)
        for args in (("token", "create", "--user", "alice"), ("apikey", "create", "--principal", "alice"),
                     ("token", "revoke", "some-jti"), ("apikey", "revoke", "0123456789abcdef")):
            code, _, err = cli(capsys, "-w", root, *args)
            assert code == 2 and "'bob' is not an admin" in err, args
        # listing credentials is for admins too; the store holds none
        code, _, err = cli(capsys, "-w", root, "apikey", "list", "--all", "--json")
        assert code == 2 and "'bob' is not an admin" in err
        from sqlalchemy import func, select

        from meshfabric.store.models_auth import ApiKeyRow

        with Mesh.open(root) as mesh, mesh.store.read() as s:
            assert s.scalar(select(func.count()).select_from(ApiKeyRow)) == 0


def test_credential_changes_are_events_without_secrets(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = cli(capsys, "-w", ws, "apikey", "create", "--principal", "etl", "--name", "loader")[1].strip()
    key_id = key.split("_")[1]
    cli(capsys, "-w", ws, "apikey", "revoke", key_id)
    issued = json.loads(cli(capsys, "-w", ws, "token", "create", "--user", "alice", "--json")[1])
    cli(capsys, "-w", ws, "token", "revoke", issued["jti"], "--reason", "rotated")
    with Mesh.open(ws) as mesh:
        events = [e for e in mesh.events.list(limit=1000) if e.event_type.startswith("auth.")]
    assert [(e.event_type, e.data.get("id") or e.data.get("jti")) for e in events] == [
        ("auth.api_key_created", key_id), ("auth.api_key_revoked", key_id),
        ("auth.token_issued", issued["jti"]), ("auth.token_revoked", issued["jti"])]
    assert all(e.data["by"] == "local" for e in events)
    assert events[0].data["principal"] == "etl" and events[3].data["reason"] == "rotated"
    text = json.dumps([e.data for e in events])
    assert key not in text and key.split("_", 2)[2] not in text and issued["token"] not in text
