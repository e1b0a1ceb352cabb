"""The ``events:`` settings reach the event log explicitly: ``Mesh`` passes them when it builds
its EventLog and hands over new ones when an apply loads a changed mesh.yaml; an EventLog built
without them still reads them from the access service's settings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from helpers import MESH_YAML, build_workspace, default_store, write
from meshfabric import Mesh
from meshfabric.events import EventLog
from meshfabric.spec.models import MeshSpec
from meshfabric.spec.observe_models import EventsSpec

NATS = "events: {backend: nats, url: nats://127.0.0.1:4222, stream: MF_SETTINGS_TEST}\n"


def test_mesh_passes_the_settings_and_an_apply_hands_over_new_ones(tmp_path: Path) -> None:
    root = build_workspace(tmp_path / "ws", mesh=MESH_YAML + NATS)
    with default_store(), Mesh.open(root) as mesh:
        given = mesh.events.nats
        assert given is not None and given.stream == "MF_SETTINGS_TEST"
        assert given is mesh.settings.spec.events  # type: ignore[union-attr]
        # given explicitly: the access service's settings are not where the log looks
        mesh.events.access = SimpleNamespace(settings=SimpleNamespace(spec=None), decide=mesh.access.decide)
        assert mesh.events.nats is given
        mesh.events.access = mesh.access

        write(root / "mesh.yaml", MESH_YAML)  # back to the store log only
        assert mesh.apply().applied
        assert mesh.events.nats is None
        write(root / "mesh.yaml", MESH_YAML + NATS.replace("MF_SETTINGS_TEST", "MF_SETTINGS_AGAIN"))
        mesh.apply()
        assert mesh.events.nats is not None and mesh.events.nats.stream == "MF_SETTINGS_AGAIN"


def test_without_settings_the_log_reads_the_access_service_s(tmp_path: Path) -> None:
    with default_store(), Mesh.open(build_workspace(tmp_path / "ws")) as mesh:
        spec = MeshSpec.model_validate({"name": "x", "events": {"backend": "nats"}})
        holder = SimpleNamespace(settings=SimpleNamespace(spec=spec))
        fallback = EventLog(mesh.store, holder)
        assert fallback.nats is spec.events
        holder.settings.spec = None
        assert fallback.nats is None
        assert EventLog(mesh.store).nats is None
        # given None explicitly: the store log, whatever the access service holds
        holder.settings.spec = spec
        assert EventLog(mesh.store, holder, bus=None).nats is None
        assert EventLog(mesh.store, bus=EventsSpec(backend="store")).nats is None
        fallback.use_bus(EventsSpec(backend="nats", stream="S2"))
        assert fallback.nats is not None and fallback.nats.stream == "S2"
