"""learned policies: the router's and the failure policy's choices with their evidence
(shown on the run page), and the DMN decision table version a policy is pinned to

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_decisions",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("runs.id"), nullable=False
        ),
        sa.Column("task_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("element_id", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("context", postgresql.JSONB(), nullable=False),
        sa.Column("choice", sa.Text(), nullable=False),
        sa.Column("explored", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("evidence", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("success", sa.Boolean()),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
    )
    op.create_index("policy_decisions_run_idx", "policy_decisions", ["run_id", "id"])
    op.create_index("policy_decisions_task_idx", "policy_decisions", ["task_id"])
    op.create_table(
        "policy_pins",
        sa.Column("policy", sa.Text(), primary_key=True),
        sa.Column(
            "decision_version",
            sa.Integer(),
            sa.ForeignKey("decision_versions.id"),
            nullable=False,
        ),
        sa.Column("pinned_by", sa.Text()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("policy_pins")
    op.drop_index("policy_decisions_task_idx", "policy_decisions")
    op.drop_index("policy_decisions_run_idx", "policy_decisions")
    op.drop_table("policy_decisions")
