"""Diagram versions can be retired: a retired version is never pinned by a new run (runs that
pinned it go on); retiring is refused while an unfinished run pins it

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "diagram_versions", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("diagram_versions", sa.Column("retired_by", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("diagram_versions", "retired_by")
    op.drop_column("diagram_versions", "retired_at")
