"""Store tables of the observability capability (see store/models.py for the shared Base).

``observe_leases`` holds one row per (product, task) the scheduler runs — ``probe``, ``quality``,
``slo`` — with the process holding it until ``expires_at`` and when the task last ran. A process
takes a task with one conditional UPDATE (or the first INSERT), so two schedulers on one store
never run the same check twice (:mod:`meshfabric.observe.scheduler`). Alerts themselves are the
quality monitor's ``alerts`` rows (``silenced_until`` added by migration 0011) and their
deliveries ``alert_deliveries`` rows (``channel`` and the per-attempt ``attempt_log``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from meshfabric.store.models import Base


class ObserveLeaseRow(Base):
    __tablename__ = "observe_leases"

    product: Mapped[str] = mapped_column(String(130), primary_key=True)
    #: probe | quality | slo
    task: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: the scheduler process that holds (or last held) the lease: host:pid:random
    holder: Mapped[str] = mapped_column(String(128))
    #: the lease is free once this time has passed (a crashed holder's lease expires by itself)
    expires_at: Mapped[datetime] = mapped_column()
    #: when the task last started a run that finished (None: never)
    last_run_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: ok | error, and why, of the last run
    last_status: Mapped[str] = mapped_column(String(16), default="")
    last_error: Mapped[str] = mapped_column(String(2000), default="")
