from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import connection

from tests.channel_support import LayerLoop


def uses_postgresql() -> bool:
    return connection.vendor == "postgresql"


requires_postgresql = pytest.mark.skipif(
    "not __import__('tests.conftest', fromlist=['x']).uses_postgresql()",
    reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test",
)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users; the production hasher would make each one take ~0.3 s."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Each test starts with an empty cache: rate-limit counts and cached plan analyses are
    keyed by row ids, which a recreated test database hands out again (and the Redis cache
    outlives it)."""
    cache.clear()


@pytest.fixture
def layer_loop() -> Iterator[LayerLoop]:
    loop = LayerLoop()
    yield loop
    loop.close()
