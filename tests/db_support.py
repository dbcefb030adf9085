"""Taking the database out of reach for real, as when it is down."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def database_unreachable() -> Iterator[None]:
    """Every connection opened meanwhile fails, as when the database is down: on SQLite a file
    that cannot be opened, on PostgreSQL a port bound but never listening (refused at once).
    Worker threads open their connections per call, so the next one fails for real."""
    config = connection.settings_dict  # shared by the connections of every thread
    saved = dict(config)
    with socket.socket() as nobody:
        nobody.bind(("127.0.0.1", 0))
        if connection.vendor == "sqlite":
            config["NAME"] = "/nonexistent-directory/peercode.sqlite3"
        else:
            config["HOST"], config["PORT"] = "127.0.0.1", nobody.getsockname()[1]
        try:
            yield
        finally:
            config.clear()
            config.update(saved)
