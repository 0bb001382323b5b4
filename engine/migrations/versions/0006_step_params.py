"""steps.params: a waiting service task's evaluated parameters, stored when it starts waiting
so that a worker prepares the step without restoring the whole run

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("steps", sa.Column("params", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("steps", "params")
