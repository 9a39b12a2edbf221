"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from tests.mosquitto import Mosquitto
from tests.postgres import Database, PostgreSQL

# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default "dev"): "ci" runs more
# examples without a per-example deadline (shared CI machines are slow and noisy).
settings.register_profile("dev", max_examples=60)
settings.register_profile(
    "ci",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A running mosquitto on a free loopback port (fails under CI=true when missing)."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgreSQL]:
    """One PostgreSQL for the whole session (fails under CI=true when missing)."""
    cluster = PostgreSQL()
    cluster.start()
    yield cluster
    cluster.destroy(detach_removal=True)


@pytest.fixture
def postgres(postgres_cluster: PostgreSQL) -> Database:
    """An empty database of the session's PostgreSQL."""
    return postgres_cluster.create_database()


@pytest.fixture
def own_postgres() -> Iterator[PostgreSQL]:
    """A PostgreSQL of the test's own, for tests that stop the server."""
    cluster = PostgreSQL()
    cluster.start()
    yield cluster
    cluster.destroy()
