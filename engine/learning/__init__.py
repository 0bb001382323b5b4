"""Learning: which stores this process uses (`Learning`), the typed events finished steps and
runs emit (`engine.learning.events`), and the recorder that turns them into learning records
(`engine.learning.recorder`), the failure signatures those records are keyed by
(`engine.learning.signatures`), a finished run's steps as element visits
(`engine.learning.visits`), and the per-element statistics of a diagram built from them
(`engine.learning.statistics`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.learning import KnowledgeStore, OutcomeStore, StepOutcome, StoreHealth
from adapters.learning.postgres import PostgresLearningStore
from adapters.write_batch import WriteBatch
from engine.settings import Settings


@dataclass
class Learning:
    """The two learning roles of this process."""

    outcomes: OutcomeStore
    knowledge: KnowledgeStore

    def step_records(self) -> Callable[[WriteBatch, StepOutcome], None] | None:
        """How to record a finished step inside the transaction that stores its result, when
        the outcome store is the run database's; None when it is a server of its own (then
        finished steps go through the recorder)."""
        if isinstance(self.outcomes, PostgresLearningStore):
            return self.outcomes.queue_step
        return None

    def stores(self) -> list[Any]:
        """Each distinct store once."""
        return (
            [self.outcomes] if self.outcomes is self.knowledge else [self.outcomes, self.knowledge]
        )

    def health(self) -> list[StoreHealth]:
        return [s.health() for s in self.stores()]

    async def flush(self) -> None:
        for store in self.stores():
            await store.flush()

    async def close(self) -> None:
        for store in self.stores():
            await store.close()


def build_learning(settings: Settings, db: AsyncEngine) -> Learning:
    """InfluxDB and Neo4j when INFLUX_URL / NEO4J_URI are set, else PostgreSQL tables."""
    pg = PostgresLearningStore(db)
    outcomes: OutcomeStore = pg
    knowledge: KnowledgeStore = pg
    if settings.influx_url:
        from adapters.learning.influx import InfluxOutcomeStore

        password = settings.influx_password.get_secret_value() if settings.influx_password else None
        outcomes = InfluxOutcomeStore(
            settings.influx_url,
            database=settings.influx_database,
            username=settings.influx_username,
            password=password,
        )
    if settings.neo4j_uri:
        from adapters.learning.neo4j import Neo4jKnowledgeStore

        password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
        knowledge = Neo4jKnowledgeStore(
            settings.neo4j_uri, user=settings.neo4j_user, password=password
        )
    return Learning(outcomes, knowledge)
