"""Fixtures every test may use: one user per role, customers, API clients, Redis cleanup."""

import importlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.apps import apps
from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from crm.models import Customer
from crm.tests.factories import CustomerFactory
from hosting.tests.factories import SiteFactory
from mining_platform.celery import app as celery_app
from mining_platform.core.choices import Role
from mining_platform.core.models import User
from mining_platform.core.tests.factories import UserFactory
from tests.support.asgi_server import AsgiServer
from tests.support.asgi_server import asgi_server as start_asgi_server


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Each pytest run gets its own test database, so two runs on one machine never drop each other's."""
    for db in settings.DATABASES.values():
        test = db.setdefault("TEST", {})
        test["NAME"] = f"{test.get('NAME') or 'test_' + db['NAME']}_{os.getpid()}"


@pytest.fixture
def miner_catalogue(transactional_db: None) -> None:
    """The seeded miner model catalogue, again: a transactional test's flush empties seeded tables."""
    seed_migration = importlib.import_module("calculator.migrations.0002_seed_miner_models")
    seed_migration.seed(apps, None)


@pytest.fixture(autouse=True)
def _redis_cleanup() -> Iterator[None]:
    """Deletes this test worker's Redis keys (cache, locks, channel layer) after each test."""
    yield
    conn = get_redis_connection("default")
    keys = list(conn.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000))
    if keys:
        conn.delete(*keys)


@pytest.fixture(autouse=True)
def _truncate_unmanaged_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empties miner_telemetry after transactional tests: Django's flush skips unmanaged tables."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE miner_telemetry")


@pytest.fixture
def customer(db: None) -> Customer:
    return CustomerFactory.create(name="Acme Hashing")


@pytest.fixture
def other_customer(db: None) -> Customer:
    return CustomerFactory.create(name="Other Hashing")


@pytest.fixture
def owner_user(db: None) -> User:
    return UserFactory.create(role=Role.OWNER, is_superuser=True)


@pytest.fixture
def admin_user(db: None) -> User:
    return UserFactory.create(role=Role.ADMIN)


@pytest.fixture
def host_user(db: None) -> User:
    return UserFactory.create(role=Role.HOST)


@pytest.fixture
def client_user(customer: Customer) -> User:
    return UserFactory.create(role=Role.CLIENT, customer=customer)


@pytest.fixture
def role_users(owner_user: User, admin_user: User, host_user: User, client_user: User) -> dict[str, User]:
    return {Role.OWNER: owner_user, Role.ADMIN: admin_user, Role.HOST: host_user, Role.CLIENT: client_user}


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def site(db: None) -> object:
    return SiteFactory.create()


@pytest.fixture
def celery_worker_thread() -> Iterator[None]:
    """A real Celery worker (solo pool, in a thread) on the test broker; tasks go through Redis."""
    eager = celery_app.conf.task_always_eager
    root_level = logging.getLogger().level  # start_worker lowers the root logger to its own level
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        celery_app.conf.task_always_eager = eager
        logging.getLogger().setLevel(root_level)


@pytest.fixture
def asgi_server(transactional_db: None, tmp_path: Path) -> Iterator[AsgiServer]:
    """The project under uvicorn in a child process, on this test's database (websockets included)."""
    with start_asgi_server(log_path=tmp_path / "uvicorn.log") as server:
        yield server
