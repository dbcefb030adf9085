from __future__ import annotations

import pytest
from django.db import connection


def uses_postgresql() -> bool:
    return connection.vendor == "postgresql"


requires_postgresql = pytest.mark.skipif(
    "not __import__('tests.conftest', fromlist=['x']).uses_postgresql()",
    reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test",
)
