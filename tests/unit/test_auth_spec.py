"""The ``auth:`` section of mesh.yaml: secrets only as ${ENV}, one algorithm family, key material present."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from helpers import MESH_YAML, build_workspace
from meshfabric.errors import SpecError
from meshfabric.spec.auth_models import AuthSpec, seconds_of


def test_defaults_verify_hs256_with_issuer_and_audience() -> None:
    spec = AuthSpec()
    assert spec.algorithms == ["HS256"] and spec.hmac
    assert (spec.issuer, spec.audience, spec.subject_claim) == ("meshfabric", "meshfabric", "sub")
    assert spec.leeway_seconds == 30 and spec.token_ttl_seconds == 3600 and spec.require_jti


def test_a_literal_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"literal secret .* \$\{ENV_VAR\}"):
        AuthSpec(secret="hunter2-but-much-longer-than-thirty-two-bytes")
    # a default value is a literal too
    with pytest.raises(ValidationError, match="literal secret"):
        AuthSpec(secret="${MF_JWT_SECRET:-fallback}")
    assert AuthSpec(secret="${MF_JWT_SECRET}").secret == "${MF_JWT_SECRET}"


@given(st.text(min_size=1, max_size=40).filter(lambda s: not s.startswith("${")))
def test_no_literal_secret_is_ever_accepted(secret: str) -> None:
    with pytest.raises(ValidationError):
        AuthSpec(secret=secret)


def test_hmac_and_public_key_algorithms_do_not_mix() -> None:
    with pytest.raises(ValidationError, match="mix HMAC"):
        AuthSpec(algorithms=["HS256", "RS256"], public_key_file="k.pem", secret="${S}")


def test_public_key_algorithms_need_a_key() -> None:
    with pytest.raises(ValidationError, match="public_key_file or jwks_file"):
        AuthSpec(algorithms=["RS256"])
    assert not AuthSpec(algorithms=["RS256"], jwks_file="jwks.json").hmac
    with pytest.raises(ValidationError, match="HS\\* uses 'secret'"):
        AuthSpec(algorithms=["HS256"], public_key_file="k.pem")


def test_unknown_algorithms_are_refused() -> None:
    for alg in ("none", "None", "HS1", ""):
        with pytest.raises(ValidationError):
            AuthSpec(algorithms=[alg])
    with pytest.raises(ValidationError):
        AuthSpec(algorithms=[])


def test_durations() -> None:
    assert seconds_of("15m") == 900 and seconds_of(45) == 45 and seconds_of("2d") == 172800
    with pytest.raises(ValueError, match="not a duration"):
        seconds_of("soon")
    with pytest.raises(ValidationError, match="leeway above 5m"):
        AuthSpec(leeway="1h")
    with pytest.raises(ValidationError, match="token_ttl cannot exceed"):
        AuthSpec(token_ttl="40d")
    with pytest.raises(ValidationError, match="extra"):
        AuthSpec(leway="1m")  # type: ignore[call-arg]


def test_mesh_yaml_auth_section_errors_name_the_line(tmp_path: Path) -> None:
    from meshfabric.spec.loader import load_mesh

    text = MESH_YAML + "auth:\n  algorithms: [HS256]\n  secret: not-a-reference\n"
    root = build_workspace(tmp_path / "ws", mesh=text)
    with pytest.raises(SpecError) as err:
        load_mesh(root)
    problem = err.value.problems[0]
    assert problem.file == "mesh.yaml" and problem.line == text.splitlines().index("  secret: not-a-reference") + 1
    assert "${ENV_VAR}" in problem.message
