"""policy outcomes: what each learned choice led to (the model group routed to a step, the
action taken after a step failed), so routing and the failure policy learn from them

One row per `PolicyOutcome` (adapters/learning/contract.py); `policy_stats` counts them per
(element, task type, language, failure class, choice) of one policy, so the index leads with
the policy and the context a decision asks about. `id` is a bigint: every routed model call
and every handled failure adds a row.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learning_policy_outcomes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("element", sa.Text(), nullable=False),
        sa.Column("task_type", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("failure_class", sa.Text(), nullable=False),
        sa.Column("choice", sa.Text(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("explored", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "learning_policy_outcomes_kind_idx",
        "learning_policy_outcomes",
        ["policy", "element", "task_type", "language"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("learning_policy_outcomes_kind_idx", table_name="learning_policy_outcomes")
    op.drop_table("learning_policy_outcomes")
