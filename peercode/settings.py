"""PeerCode settings: everything comes from the environment, with defaults that run embedded.

No variable set means SQLite in ``data/``, the in-memory channel layer, no ClickHouse and no
DEBUG. See the configuration table in README.md for every variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

INSECURE_SECRET_KEY = "peercode-insecure-development-key-do-not-use-in-production"


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from exc


RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """``N/period`` (period: second, minute, hour or day, or a number of seconds) as
    ``(N, seconds)``; ``off`` or ``0`` means no limit (``None``)."""
    value = os.environ.get(name, "").strip().lower() or default
    if value in {"off", "0"}:
        return None
    count, _, period = value.partition("/")
    seconds = RATE_PERIODS.get(period) or (int(period) if period.isdigit() else 0)
    if not count.isdigit() or int(count) < 1 or seconds < 1:
        raise ImproperlyConfigured(
            f"{name} must look like '600/minute' (a count, '/', and second, minute, hour, day "
            f"or a number of seconds) or 'off', got {value!r}."
        )
    return int(count), seconds


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


PEERCODE_ENV = os.environ.get("PEERCODE_ENV", "development").strip().lower()
if PEERCODE_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"PEERCODE_ENV must be 'development' or 'production', got {PEERCODE_ENV!r}."
    )

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = os.environ.get("SECRET_KEY", "").strip() or INSECURE_SECRET_KEY
if PEERCODE_ENV == "production" and SECRET_KEY == INSECURE_SECRET_KEY:
    raise ImproperlyConfigured(
        "PeerCode refuses to start in production with the built-in development SECRET_KEY. "
        "Set SECRET_KEY to a long random value, for example: "
        "export SECRET_KEY=\"$(python -c 'import secrets; print(secrets.token_urlsafe(50))')\""
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

DATA_DIR = Path(os.environ.get("PEERCODE_DATA_DIR", "").strip() or BASE_DIR / "data")
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "peercode.events",
    "projects",
    "deltas",
    "debates",
    "locks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "peercode.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "peercode.urls"
ASGI_APPLICATION = "peercode.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_config() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
        if config["ENGINE"] == "django.db.backends.postgresql":
            config.setdefault("OPTIONS", {})
        return config
    # SQLite: IMMEDIATE transactions take the write lock at BEGIN, so two atomic blocks that
    # read-then-write never interleave; WAL lets readers proceed while one writer works.
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "peercode.sqlite3",
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # A file, not memory, so that tests with several threads share one database.
        "TEST": {"NAME": str(DATA_DIR / "test-peercode.sqlite3")},
    }


DATABASES = {"default": database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    # Redis pub/sub rather than channels_redis' list-based core layer: a live delta is one
    # PUBLISH to every process instead of one list push per subscriber, which is what keeps
    # fan-out p99 low with many subscribers (docs/benchmarks.md). Pub/sub delivers at most once;
    # the delta consumer fills any gap from the database, so nothing is lost with it.
    # socket_timeout above redis-py's default: a subscriber may sit idle for long stretches
    # (django/channels_redis#422).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The rate limiter's counters (peercode/ratelimit.py) live in the cache: shared by every
# process through Redis when there is one; in memory, per process, when running embedded.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

CLICKHOUSE_URL = os.environ.get("CLICKHOUSE_URL", "").strip()

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# The dashboard's own login page: any human with an account logs in there (the admin's login
# is for staff only).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "peercode.auth.AgentTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "peercode.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PeerCode API",
    "DESCRIPTION": (
        "Coordination server for AI coding agents. Agents authenticate with "
        "`Authorization: Bearer <agent token>`; humans with a Django session."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# The product's own knobs.
PEERCODE_DEFAULT_LOCK_TTL_SECONDS = env_int("PEERCODE_DEFAULT_LOCK_TTL_SECONDS", 900)
PEERCODE_DELTA_FOLD_SECONDS = env_int("PEERCODE_DELTA_FOLD_SECONDS", 300)
PEERCODE_LOCK_SWEEP_SECONDS = env_int("PEERCODE_LOCK_SWEEP_SECONDS", 5)
PEERCODE_MIN_LOCK_TTL_SECONDS = env_int("PEERCODE_MIN_LOCK_TTL_SECONDS", 10)
PEERCODE_MAX_DEBATE_ROUNDS = env_int("PEERCODE_MAX_DEBATE_ROUNDS", 5)
# Requests per caller (agent token or human user) and window, by scope: peercode/ratelimit.py.
# The defaults are far above what an agent calling on every step sends (docs/limits.md).
PEERCODE_RATE_LIMITS = {
    "rest": env_rate("PEERCODE_RATE_LIMIT_REST", "1200/minute"),
    "mcp": env_rate("PEERCODE_RATE_LIMIT_MCP", "1200/minute"),
    "ws": env_rate("PEERCODE_RATE_LIMIT_WS", "1200/minute"),
}
# Identical refusals (an agent retrying a taken lock) within this many seconds of the first are
# counted, then logged as one event (peercode/events/services.py).
PEERCODE_REFUSAL_FOLD_SECONDS = env_int("PEERCODE_REFUSAL_FOLD_SECONDS", 60)
PEERCODE_INTEGRATION_BRANCH = os.environ.get("PEERCODE_INTEGRATION_BRANCH", "peer-progress")
PEERCODE_PUBLIC_URL = os.environ.get("PEERCODE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
ANTHROPIC_API_KEY = os.environ.get("ANTHROPIC_API_KEY", "").strip()
PEERCODE_ANTHROPIC_MODEL = os.environ.get("PEERCODE_ANTHROPIC_MODEL", "claude-sonnet-5-5")
PEERCODE_MEDIATION_MAX_TOKENS = env_int("PEERCODE_MEDIATION_MAX_TOKENS", 2000)
PEERCODE_DECOMPOSE_MAX_TOKENS = env_int("PEERCODE_DECOMPOSE_MAX_TOKENS", 16000)
# Web search for debate evidence (debates/search.py): "" turns it off, "nimble" uses Nimble.
PEERCODE_SEARCH_PROVIDER = os.environ.get("PEERCODE_SEARCH_PROVIDER", "").strip().lower()
NIMBLE_API_KEY = os.environ.get("NIMBLE_API_KEY", "").strip()
# Passed to the SDK explicitly, so its own NIMBLE_BASE_URL lookup never redirects our traffic.
PEERCODE_NIMBLE_BASE_URL = (
    os.environ.get("PEERCODE_NIMBLE_BASE_URL", "https://sdk.nimbleway.com").strip().rstrip("/")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("PEERCODE_LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}},
}
