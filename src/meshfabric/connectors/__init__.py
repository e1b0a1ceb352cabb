"""Connectors: one module per source kind behind the small interface in :mod:`.base`.

:func:`get_connector` imports the module of a source kind only when a source of that kind is
first used, so ``import meshfabric`` never pays for pyarrow, DuckDB, ADBC or PyMySQL.

The helpers below are shared by the server connectors (PostgreSQL, MySQL): reading the
address of a server out of a :class:`SourceSpec`, keeping credentials out of messages,
telling transient failures from permanent ones and naming close matches in errors.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from meshfabric.connectors.base import (
    ColumnInfo,
    Connector,
    ScanRequest,
    ScanResult,
    TableInfo,
    TableStats,
    with_retries,
)
from meshfabric.errors import SourceError

if TYPE_CHECKING:
    import pyarrow as pa

    from meshfabric.spec.models import SourceSpec

__all__ = [
    "KINDS",
    "ColumnInfo",
    "Connector",
    "ScanRequest",
    "ScanResult",
    "ServerAddress",
    "TableInfo",
    "TableStats",
    "connector_class",
    "get_connector",
    "with_retries",
]

T = TypeVar("T")

#: every source kind, in the order they are documented
KINDS: tuple[str, ...] = ("postgres", "mysql", "sqlite", "duckdb", "files")

_CLASSES: dict[str, tuple[str, str]] = {
    "postgres": ("meshfabric.connectors.postgres", "PostgresConnector"),
    "mysql": ("meshfabric.connectors.mysql", "MySQLConnector"),
    "sqlite": ("meshfabric.connectors.sqlite", "SQLiteConnector"),
    "duckdb": ("meshfabric.connectors.duckdb", "DuckDBConnector"),
    "files": ("meshfabric.connectors.files", "FilesConnector"),
}


def connector_class(kind: str) -> type[Connector]:
    """The connector class of a source kind, importing its module on first use."""
    try:
        module_name, class_name = _CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown source kind '{kind}' (known: {', '.join(KINDS)})") from None
    cls: type[Connector] = getattr(importlib.import_module(module_name), class_name)
    return cls


def get_connector(name: str, spec: SourceSpec, root: Path) -> Connector:
    """A connector for the source ``name``; ``root`` is the workspace folder relative paths use."""
    try:
        cls = connector_class(spec.kind)
    except ValueError as exc:
        raise SourceError(name, str(exc)) from None
    return cls(name, spec, root)


# ---------------------------------------------------------------------------------------------
# Shared plumbing of the connectors. Not part of the public surface.


class TransientError(Exception):
    """A failure worth retrying (server restarting, connection refused, dropped connection).

    Carries an already-redacted message so that giving up can report it safely.
    """


@dataclass(frozen=True)
class ServerAddress:
    """Where a database server is and who to log in as; ``repr`` never shows the password."""

    host: str
    port: int
    database: str | None
    user: str | None
    password: str | None = field(default=None, repr=False)
    params: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}" + (f"/{self.database}" if self.database else "")

    def url(self, scheme: str, extra: dict[str, str] | None = None) -> str:
        """A URL with percent-encoded credentials, for drivers that only take URLs."""
        auth = ""
        if self.user:
            auth = quote(self.user, safe="")
            if self.password:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        url = f"{scheme}://{auth}{host}:{self.port}/{quote(self.database or '', safe='')}"
        params = dict(self.params)
        params.update(extra or {})
        if params:
            url += "?" + "&".join(f"{quote(k, safe='')}={quote(str(v), safe='')}" for k, v in params.items())
        return url


def server_address(spec: SourceSpec, *, default_port: int, default_user: str | None = None) -> ServerAddress:
    """Merge ``url`` and the separate fields of a server source; separate fields win.

    A URL carries the usual ``scheme://user:password@host:port/database?param=value`` parts;
    the query parameters are passed on to the driver (``sslmode`` and the like).
    """
    host, port, database, user, password = "localhost", default_port, None, default_user, None
    params: list[tuple[str, str]] = []
    if spec.url:
        parts = urlsplit(spec.url)
        try:
            url_port = parts.port
        except ValueError:
            raise ValueError("the port in 'url' is not a number") from None
        host = parts.hostname or host
        port = url_port or port
        database = unquote(parts.path.lstrip("/")) or None
        user = unquote(parts.username) if parts.username else user
        password = unquote(parts.password) if parts.password is not None else None
        params = parse_qsl(parts.query)
    if spec.host:
        host = spec.host
    if spec.port not in (None, ""):
        try:
            port = int(spec.port)  # type: ignore[arg-type]
        except ValueError:
            raise ValueError(f"'port' must be a number, got '{spec.port}'") from None
    database = spec.database or database
    user = spec.user or user
    password = spec.password if spec.password is not None else password
    return ServerAddress(host, port, database, user, password, tuple(params))


_URL_AUTH = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")
_PASSWORD_KV = re.compile(r"(?i)\b(password|passwd|pwd)\s*=\s*('[^']*'|\"[^\"]*\"|\S+)")


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with the given secrets, URL credentials and ``password=...`` pairs masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    text = _URL_AUTH.sub(r"\1***@", text)
    return _PASSWORD_KV.sub(r"\1=***", text)


def driver_message(exc: BaseException, *secrets: str | None, limit: int = 300) -> str:
    """The first meaningful line of a driver error, redacted and shortened for a user message."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    text = redact(text, *secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Candidates that look like ``name``: same spelling in another case first, then similar."""
    pool = list(dict.fromkeys(candidates))
    same_case = [c for c in pool if c.lower() == name.lower() and c != name]
    similar = difflib.get_close_matches(name.lower(), [c.lower() for c in pool], n=n, cutoff=0.6)
    by_lower = {c.lower(): c for c in pool}
    out = same_case + [by_lower[s] for s in similar if by_lower[s] not in same_case and by_lower[s] != name]
    return out[:n]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    matches = close_matches(name, candidates)
    if not matches:
        return None
    return "did you mean " + " or ".join(f"'{m}'" for m in matches) + "?"


def table_not_found(connector: Connector, table: str, candidates: Iterable[str]) -> SourceError:
    hint = did_you_mean(table, candidates) or f"list the tables with `meshfabric sources tables {connector.name}`"
    return connector.error(f"table '{table}' not found in source '{connector.name}'", hint=hint)


def column_not_found(connector: Connector, column: str, relation: str, candidates: Iterable[str]) -> SourceError:
    return connector.error(
        f"column '{column}' not found in '{relation}' of source '{connector.name}'",
        hint=did_you_mean(column, candidates),
    )


def rows_only(count: int) -> pa.Table:
    """A table of ``count`` rows and no columns: the answer of a count-only scan."""
    import pyarrow as pa

    return pa.table([pa.nulls(count)], names=["_"]).select([])


def call_with_retries(
    connector: Connector,
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    base_delay: float = 0.2,
) -> T:
    """Run ``fn``; retry :class:`TransientError` with backoff, then raise a SourceError."""

    def give_up(exc: BaseException) -> BaseException:
        return connector.error(
            f"{exc} (gave up after {attempts} attempts)",
            hint="check that the server is running and reachable at the configured host and port",
        )

    return with_retries(fn, transient=(TransientError,), attempts=attempts, base_delay=base_delay, on_give_up=give_up)
