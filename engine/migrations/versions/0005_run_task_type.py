"""runs.task_type: the request's task type, computed once and read by every step

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("task_type", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "task_type")
