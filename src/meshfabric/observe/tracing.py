"""OpenTelemetry traces of what meshfabric does: ``apply``, ``query`` (children ``plan``, one
``scan`` per source read, ``engine``), quality runs and REST requests.

The instrumented code uses the OpenTelemetry *API* only (``trace.get_tracer``), the way a
library should; this module configures the *SDK* from ``observability.tracing`` in mesh.yaml:

* ``exporter: none`` (the default) configures nothing and imports nothing: every instrumented
  spot costs one dictionary lookup (:func:`active_tracer` looks ``opentelemetry.trace`` up in
  ``sys.modules``) and, when something loaded it anyway (FastAPI does), a check that no SDK
  provider is set;
* ``console`` prints each finished span as JSON (to stdout, or any stream given);
* ``otlp`` sends them over OTLP/HTTP to ``endpoint`` (``http://127.0.0.1:4318/v1/traces``).

Spans are exported by a ``BatchSpanProcessor`` (a background thread), so the query path never
waits on an exporter. OpenTelemetry lets a process set its tracer provider once: the first
:func:`configure` that asks for an exporter installs an SDK provider, later ones add their
exporter to it (each distinct exporter once).

:func:`create_trace` and :func:`add_trace_event` are the seed's tracing API mapped onto this:
a trace is a span (a child of the current one when there is one), an event is a span event on
the current span.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from meshfabric.spec.observe_models import TracingSpec

R = TypeVar("R")


#: exporters already added to the process's provider: (kind, endpoint) -> the processor
_installed: dict[tuple[str, str], Any] = {}


def active_tracer() -> Tracer | None:
    """The tracer to create spans with, or None when the process exports no spans: OpenTelemetry
    not loaded, or loaded (FastAPI imports it) without an SDK provider — then instrumentation
    does nothing at all. One implementation with the query engine's (cached per provider)."""
    from meshfabric.query.engine import tracer

    return tracer()  # type: ignore[no-any-return]


def configure(spec: TracingSpec | None, *, stream: TextIO | None = None) -> bool:
    """Set up exporting as ``spec`` says; True when spans are now exported somewhere.

    ``stream`` redirects the console exporter (the benchmark sends it to /dev/null)."""
    if spec is None or spec.exporter == "none":
        return bool(_installed)
    key = (spec.exporter, spec.endpoint or ("" if stream is None else f"stream:{id(stream)}"))
    if key in _installed:
        return True
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": spec.service_name}))
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
    exporter: Any
    if spec.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporter = ConsoleSpanExporter(out=stream or sys.stdout)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=spec.endpoint) if spec.endpoint else OTLPSpanExporter()
    processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    _installed[key] = processor
    return True


def flush(timeout_ms: int = 5000) -> None:
    """Export every span ended so far (the CLI calls it before exiting)."""
    for processor in _installed.values():
        processor.force_flush(timeout_ms)


def attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attribute values OpenTelemetry accepts: None dropped, other objects as text."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float | str):
            out[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            out[key] = list(value)
        else:
            out[key] = str(value)
    return out


@contextmanager
def span(name: str, attrs: dict[str, Any] | None = None) -> Iterator[Span | None]:
    """A span around the block (a child of the current span), None when tracing is off. An
    exception leaving the block is recorded on the span and sets its status to error."""
    tracer = active_tracer()
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, attributes=attributes(attrs or {})) as current:
        yield current


def create_trace(name: str, **attrs: Any) -> Any:
    """The seed's ``create_trace``: a span named ``name`` with ``attrs``; use it as a context
    manager (``with create_trace("publish", product=fqn): …``)."""
    return span(name, attrs)


def add_trace_event(name: str, **attrs: Any) -> bool:
    """The seed's ``add_trace_event``: an event on the current span; False when there is no
    recording span to add it to."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return False
    current = trace.get_current_span()
    if not current.is_recording():
        return False
    current.add_event(name, attributes=attributes(attrs))
    return True



def traced(fn: Callable[..., R], name: str, before: Callable[..., dict[str, Any]] | None = None,
           after: Callable[[R], dict[str, Any]] | None = None) -> Callable[..., R]:
    """``fn`` run inside a span ``name`` whenever tracing is on (decided per call): attributes
    from ``before(*args, **kwargs)`` at the start and ``after(result)`` at the end."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        tracer = active_tracer()
        if tracer is None:
            return fn(*args, **kwargs)
        with tracer.start_as_current_span(name, attributes=attributes(before(*args, **kwargs) if before else {})) as s:
            result = fn(*args, **kwargs)
            if after is not None:
                s.set_attributes(attributes(after(result)))
            return result

    return wrapper
