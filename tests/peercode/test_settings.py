"""Configuration comes from the environment, with defaults that run embedded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG_VARS = ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL", "SECRET_KEY", "DEBUG", "PEERCODE_ENV")

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "clickhouse": settings.CLICKHOUSE_URL,
    "debug": settings.DEBUG,
}))
"""


def run_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "peercode.settings", "PEERCODE_DATA_DIR": str(tmp_path)}
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_variables_means_sqlite_in_memory_layer_no_clickhouse_and_no_debug(tmp_path):
    result = run_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["engine"] == "django.db.backends.sqlite3"
    assert config["db_name"].startswith(str(tmp_path))
    assert config["layer"] == "channels.layers.InMemoryChannelLayer"
    assert config["clickhouse"] == ""
    assert config["debug"] is False


def test_service_urls_select_postgresql_and_redis(tmp_path):
    result = run_settings(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        CLICKHOUSE_URL="clickhouse://127.0.0.1:9000/default",
        DEBUG="true",
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["engine"] == "django.db.backends.postgresql"
    assert config["db_name"] == "test"
    assert config["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert config["clickhouse"] == "clickhouse://127.0.0.1:9000/default"
    assert config["debug"] is True


def test_production_with_the_default_secret_refuses_to_start_and_says_how_to_fix_it(tmp_path):
    result = run_settings(tmp_path, PEERCODE_ENV="production")
    assert result.returncode != 0
    assert "refuses to start in production" in result.stderr
    assert "export SECRET_KEY=" in result.stderr


def test_production_with_a_real_secret_starts(tmp_path):
    result = run_settings(tmp_path, PEERCODE_ENV="production", SECRET_KEY="x" * 60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("PEERCODE_ENV", "staging", "PEERCODE_ENV must be 'development' or 'production'"),
        ("PEERCODE_DEFAULT_LOCK_TTL_SECONDS", "ten", "must be an integer"),
    ],
)
def test_bad_configuration_values_are_named(tmp_path, var, value, message):
    result = run_settings(tmp_path, **{var: value})
    assert result.returncode != 0
    assert message in result.stderr
