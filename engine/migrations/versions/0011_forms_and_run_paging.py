"""User-task forms (JSON Schema and UI schema by element id) stored with a diagram version;
an index on runs (created_at, id) for keyset paging of the runs list; a partial index of the
person tasks waiting (the task inbox)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "diagram_versions",
        sa.Column(
            "forms", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
    )
    op.create_index("runs_created_idx", "runs", ["created_at", "id"])
    op.create_index(
        "steps_people_waiting_idx",
        "steps",
        ["started_at", "task_id"],
        postgresql_where=sa.text("state = 'ready' AND kind IN ('UserTask', 'ManualTask')"),
    )


def downgrade() -> None:
    op.drop_index("steps_people_waiting_idx", table_name="steps")
    op.drop_index("runs_created_idx", table_name="runs")
    op.drop_column("diagram_versions", "forms")
