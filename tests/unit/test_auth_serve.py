"""Which addresses `serve --no-auth` accepts: loopback only."""

from __future__ import annotations

import pytest

from meshfabric.cli.serve_cmd import is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "192.168.1.20", "example.com", "127.0.0.1.nip.io",
                                  "localhost.example.com", "", "::ffff:10.0.0.1"])
def test_other_addresses(host: str) -> None:
    assert not is_loopback(host)
