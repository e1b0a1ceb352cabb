"""Each meshfabric error class carries the HTTP status the REST API answers it with."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import meshfabric
from meshfabric.api.app import _status
from meshfabric.errors import MeshfabricError

#: modules that cannot be imported on their own (Alembic runs it with its own context)
_NOT_IMPORTABLE = {"meshfabric.store.migrations.env"}


def _every_error_class() -> list[type[MeshfabricError]]:
    for info in pkgutil.walk_packages(meshfabric.__path__, "meshfabric."):
        if info.name not in _NOT_IMPORTABLE:
            importlib.import_module(info.name)
    seen: set[type[MeshfabricError]] = set()
    todo = [MeshfabricError]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _status_by_class_name(exc: MeshfabricError) -> int:
    """The mapping the API used before each class carried its status (chosen by class name)."""
    name = exc.__class__.__name__
    if name == "AuthenticationFailed":
        return 401
    if isinstance(exc, meshfabric.errors.NotFound):
        return 404
    if name == "AccessDenied":
        return 403
    if name == "SourceError":
        return 502
    return 422 if exc.exit_code == 1 else 400


#: by class name, so that moving a class to another module does not break the check
EXPECTED = {
    "MeshfabricError": 400,
    "SpecError": 400,
    "ConfigError": 400,
    "QueryError": 400,
    "SourceError": 502,
    "NotFound": 404,
    "AccessDenied": 403,
    "IncompatibleSchema": 422,
    "CheckFailed": 422,
    "SchemaDriftError": 422,
    "ContractBroken": 422,
    "AuthenticationFailed": 401,
    "InvalidSchemaError": 400,
    "SqlLineageError": 400,
    "InvalidOpenLineageEvent": 400,
    "QueryTimeout": 504,
    "QueryCancelled": 499,
    "UnknownProduct": 404,
    "StoreUnavailable": 503,
    "StoreBusy": 503,
    "StoreChanged": 409,
    "EventBusUnavailable": 503,
}

#: classes whose status deliberately differs from the class-name mapping the API used before
CHANGED = {
    "QueryTimeout": 504,
    "QueryCancelled": 499,
    "UnknownProduct": 404,
    "StoreUnavailable": 503,
    "StoreBusy": 503,
    "StoreChanged": 409,
    "EventBusUnavailable": 503,
}

ERROR_CLASSES = _every_error_class()


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_status_of_every_error_class_is_unchanged(cls: type[MeshfabricError]) -> None:
    exc = cls.__new__(cls)  # the status is a class attribute: no constructor arguments needed
    assert _status(exc) == cls.http_status == CHANGED.get(cls.__qualname__, _status_by_class_name(exc))


def test_known_error_classes_have_their_status() -> None:
    found = {c.__qualname__: c.http_status for c in ERROR_CLASSES}
    assert {name: found.get(name) for name in EXPECTED} == EXPECTED
