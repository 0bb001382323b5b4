"""Alembic environment: runs migrations on the connection `engine.migrate` hands over."""

from alembic import context

from engine.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through `engine.migrate.upgrade`, which opens the connection"
    )
context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
