"""NOTIFY weavergen_runs with the run id whenever a run or its events change, so that live
pages wait for a notification instead of polling

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # pg_notify folds identical notifications of one transaction into one
    op.execute(
        """
        CREATE FUNCTION weavergen_run_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_TABLE_NAME = 'runs' THEN
                PERFORM pg_notify('weavergen_runs', NEW.id::text);
            ELSE
                PERFORM pg_notify('weavergen_runs', NEW.run_id::text);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER runs_changed AFTER INSERT OR UPDATE ON runs "
        "FOR EACH ROW EXECUTE FUNCTION weavergen_run_changed()"
    )
    op.execute(
        "CREATE TRIGGER step_events_added AFTER INSERT ON step_events "
        "FOR EACH ROW EXECUTE FUNCTION weavergen_run_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER step_events_added ON step_events")
    op.execute("DROP TRIGGER runs_changed ON runs")
    op.execute("DROP FUNCTION weavergen_run_changed()")
