"""Store the specs of a diagram's embedded subprocesses (and event subprocesses) with its
version: SpiffWorkflow builds them as process specs of their own, and a run needs them

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "diagram_versions",
        sa.Column("subprocesses", sa.JSON(), nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    op.drop_column("diagram_versions", "subprocesses")
