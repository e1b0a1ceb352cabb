"""One exception tree for everything meshfabric raises on purpose.

Every error carries a message a user can act on. The CLI maps each class to an exit code
(:attr:`MeshfabricError.exit_code`) and prints ``message`` without a traceback; the REST API
maps it to an RFC 9457 problem document with the class's HTTP status
(:attr:`MeshfabricError.http_status`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class MeshfabricError(Exception):
    """Base class. ``exit_code`` 2 means bad input; 1 means a check failed.

    ``http_status`` is the status the REST API answers with: 400 for bad input, 422 for a
    check that failed; subclasses that say who or what is at fault override it.
    """

    exit_code = 2
    http_status = 400
    title = "meshfabric error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong in one spec file."""

    file: str
    line: int | None
    field: str | None
    message: str
    hint: str | None = None

    def render(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f" field '{self.field}':" if self.field else ""
        text = f"{where}:{what} {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        return text


class SpecError(MeshfabricError):
    """One or more spec files are invalid. Nothing was written."""

    title = "invalid spec"

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = problems
        n = len(problems)
        head = f"{n} problem{'s' if n != 1 else ''} in spec files (nothing was written):"
        super().__init__(head + "\n" + "\n".join("  " + p.render() for p in problems))


class ConfigError(MeshfabricError):
    """The workspace or its settings are wrong (missing mesh.yaml, unset ${ENV} variable...)."""

    title = "invalid configuration"


class SourceError(MeshfabricError):
    """A source could not be reached or read. Names the source and what to check."""

    http_status = 502
    title = "source error"

    def __init__(self, source: str, message: str, *, hint: str | None = None) -> None:
        self.source = source
        super().__init__(f"source '{source}': {message}", hint=hint)


class NotFound(MeshfabricError):
    http_status = 404
    title = "not found"


class QueryError(MeshfabricError):
    """User SQL was refused or failed. Says what part of the SQL and why."""

    title = "query error"


class UnknownProduct(QueryError):
    """SQL names a product that does not exist — or that the principal may not discover, which
    is answered exactly alike: a 404 like every other way of asking for a product."""

    title = "product not found"
    http_status = 404


class QueryTimeout(QueryError):
    """A query ran into its time limit and was stopped: its statement in the engine and its
    scans still running in the sources were cancelled. Says the limit and what was running."""

    title = "query timeout"
    #: the engine gave up waiting on its sources and itself: a gateway timeout, not bad input
    http_status = 504

    def __init__(self, seconds: float, running: str) -> None:
        self.seconds = seconds
        self.running = running
        super().__init__(
            f"the query was stopped after its time limit of {seconds:g} s while {running}",
            hint="make the query cheaper (filter early, bound recursive CTEs), or raise the query time limit "
            "of your access configuration (access.query_timeout in mesh.yaml)",
        )


class QueryCancelled(QueryError):
    """A query was cancelled before it finished — Ctrl-C at the command line, or the REST client
    went away — and its statement in the engine and its scans in the sources were stopped."""

    title = "query cancelled"
    #: nginx's "client closed request": nobody is waiting for the answer
    http_status = 499
    exit_code = 130

    def __init__(self, reason: str, running: str) -> None:
        self.reason = reason
        self.running = running
        super().__init__(f"the query was cancelled ({reason}) while {running}; its statements were stopped "
                         "in the engine and the sources")


class AccessDenied(MeshfabricError):
    http_status = 403
    title = "access denied"


class IncompatibleSchema(MeshfabricError):
    """A new schema version breaks its product's compatibility mode; lists every reason."""

    exit_code = 1
    http_status = 422
    title = "incompatible schema"

    def __init__(self, message: str, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__(message + "\n" + "\n".join("  - " + r for r in reasons))


class CheckFailed(MeshfabricError):
    """A check ran and did not pass (schema drift, a failed quality rule...)."""

    exit_code = 1
    http_status = 422
    title = "check failed"


@dataclass
class SchemaDrift:
    """Declared vs real schema of one product."""

    product: str
    problems: list[str] = field(default_factory=list)


class SchemaDriftError(CheckFailed):
    title = "schema drift"

    def __init__(self, drifts: list[SchemaDrift]) -> None:
        self.drifts = drifts
        lines = []
        for d in drifts:
            lines.extend(f"  {d.product}: {p}" for p in d.problems)
        super().__init__(
            "declared schema does not match the source (nothing was written):\n" + "\n".join(lines),
            hint="fix the spec or the source; `apply --allow-drift` turns this into a warning",
        )


class ContractBroken(CheckFailed):
    """A product change would break consumer contracts; lists each one."""

    title = "contract broken"

    def __init__(self, breaks: list[str]) -> None:
        self.breaks = breaks
        super().__init__(
            "the change breaks consumer contracts (nothing was written):\n" + "\n".join(f"  - {b}" for b in breaks),
            hint="agree a new contract version with the consumers first, or keep the columns they rely on",
        )


class StoreUnavailable(ConfigError):
    """The metadata store cannot be opened: a PostgreSQL store's server refuses the connection,
    its database or role does not exist, the password is wrong. Says which, and how to fix it;
    never shows the password."""

    title = "metadata store unavailable"
    #: the store behind the API is down or misconfigured: the service cannot answer at all
    http_status = 503


class StoreBusy(MeshfabricError):
    """The metadata store stayed locked by another process for longer than a write may wait.
    Names the store and how to find the holder. Nothing was written."""

    title = "metadata store busy"
    #: retry later: another writer holds the store
    http_status = 503


class StoreChanged(MeshfabricError):
    """Another apply changed the store between this apply's planning and its commit, on what
    this apply would change too (a stale checkout would revert it). Nothing was written."""

    title = "store changed during apply"
    #: an optimistic-lock conflict
    http_status = 409
