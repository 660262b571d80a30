"""Shared test set-up: no network to model hubs, and a `database` marker for CI.

.ci/run reruns every test marked `database` against PostgreSQL; the marker is added
here to each test that touches the database, so nobody has to remember it.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATABASE_FIXTURES = {"db", "transactional_db", "django_db_setup", "live_server", "admin_client"}


def pytest_collection_modifyitems(items):
    for item in items:
        uses_db = item.get_closest_marker("django_db") or (
            DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        )
        if uses_db:
            item.add_marker(pytest.mark.database)


def pytest_configure(config):
    config.addinivalue_line("markers", "database: touches the database (rerun on PostgreSQL)")
