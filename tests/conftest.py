"""Shared fixtures: real PostgreSQL and Redis, isolated per test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

PG_ADMIN_URL = os.environ.get("BORDERGATE_TEST_PG", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BORDERGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test; the URL selects it through search_path."""
    schema = f"bgtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix unique to one test, so runs never see each other's keys."""
    return f"bgtest:{uuid.uuid4().hex[:12]}:"
