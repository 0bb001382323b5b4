"""Learning stores on real servers: PostgreSQL (embedded), InfluxDB 1.x (Debian), Neo4j 5.26
(embedded launcher from Maven Central). A server that cannot start fails the test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.database import create_engine
from adapters.learning.postgres import PostgresLearningStore
from engine.migrate import upgrade
from tests.servers import Cluster


@pytest.fixture(scope="session")
def learning_db(cluster: Cluster) -> str:
    url = cluster.database("wg_learning")
    upgrade(url)
    return url


@pytest.fixture(params=["postgres", "influxdb"])
async def outcome_store(request: pytest.FixtureRequest, learning_db: str) -> AsyncIterator[Any]:
    if request.param == "postgres":
        db = create_engine(learning_db, pool_size=2)
        yield PostgresLearningStore(db)
        await db.dispose()
        return
    from adapters.learning.influx import InfluxOutcomeStore

    server = request.getfixturevalue("influx_server")
    store = InfluxOutcomeStore(server.url, database=f"contract_{uuid.uuid4().hex[:8]}")
    yield store
    await store.close()


@pytest.fixture(params=["postgres", "neo4j"])
async def knowledge_store(request: pytest.FixtureRequest, learning_db: str) -> AsyncIterator[Any]:
    if request.param == "postgres":
        db = create_engine(learning_db, pool_size=2)
        yield PostgresLearningStore(db)
        await db.dispose()
        return
    from adapters.learning.neo4j import Neo4jKnowledgeStore

    server = request.getfixturevalue("neo4j_server")
    store = Neo4jKnowledgeStore(server.uri, password=getattr(server, "password", None))
    yield store
    await store.close()
