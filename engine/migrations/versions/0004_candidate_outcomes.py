"""candidate outcomes: each model group's answer in a consensus step, and its prediction

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learning_candidates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("model_group", sa.Text(), nullable=False),
        sa.Column("task_type", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("predicted", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("agreement", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "learning_candidates_kind_idx",
        "learning_candidates",
        ["model_group", "task_type", "language"],
        unique=False,
    )
    op.create_index("learning_candidates_at_idx", "learning_candidates", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("learning_candidates_at_idx", table_name="learning_candidates")
    op.drop_index("learning_candidates_kind_idx", table_name="learning_candidates")
    op.drop_table("learning_candidates")
