"""element visits and the flows gateways took: per-element statistics of a diagram across
runs (the heatmap on the diagram page)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learning_visits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("diagram_id", sa.Text(), nullable=False),
        sa.Column("diagram_version", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("model_ms", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "learning_visits_diagram_idx", "learning_visits", ["diagram_id", "at"], unique=False
    )
    op.create_table(
        "learning_flows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("diagram_id", sa.Text(), nullable=False),
        sa.Column("diagram_version", sa.Integer(), nullable=False),
        sa.Column("gateway", sa.Text(), nullable=False),
        sa.Column("flow", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "learning_flows_diagram_idx", "learning_flows", ["diagram_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("learning_flows_diagram_idx", table_name="learning_flows")
    op.drop_table("learning_flows")
    op.drop_index("learning_visits_diagram_idx", table_name="learning_visits")
    op.drop_table("learning_visits")
