"""Alembic environment: always runs on a connection handed in by :class:`meshfabric.store.Store`,
inside the store's write lock, so concurrent processes never migrate twice."""

from alembic import context

from meshfabric.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
