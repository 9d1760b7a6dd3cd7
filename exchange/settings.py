"""Settings, all from the environment (SPEC §10). A ``.env`` file is read if present.

Development defaults are safe: DEBUG is off unless asked, and secrets that are not given
are generated once into ``./var/secrets.json`` (never into the repository).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EXCHANGE_VAR_DIR") or BASE_DIR / "var")  # empty means unset, not "."


def _read_dotenv(path: Path) -> None:
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            os.environ.setdefault(key.strip(), value.strip().strip("'\""))


_read_dotenv(BASE_DIR / ".env")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _local_secret(name: str) -> str:
    """A secret given in the environment, or one generated once under ./var/ for development."""
    value = os.environ.get(name)
    if value:
        return value
    path = VAR_DIR / "secrets.json"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    if name not in stored:
        stored[name] = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return str(stored[name])


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = _local_secret("SECRET_KEY")
JWT_SECRET = _local_secret("JWT_SECRET")
JWT_ALGORITHM = "HS256"
JWT_TTL_S = env_int("JWT_TTL_S", 3600)
# Fernet key material for API-key secrets at rest (derived with HKDF in exchange.crypto).
API_KEY_ENCRYPTION_KEY = _local_secret("API_KEY_ENCRYPTION_KEY")
API_KEY_WINDOW_MS = 5000

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
PORT = env_int("PORT", 8000)

TESTNET_ONLY = env_bool("TESTNET_ONLY", False)
SPOT_TRADING_ENABLED = env_bool("SPOT_TRADING_ENABLED", True)
ENGINE_QUEUE_MAX = env_int("ENGINE_QUEUE_MAX", 10000)
ENGINE_SHARDS = env_int("ENGINE_SHARDS", 1)
ENGINE_REPLY_TIMEOUT_S = env_float("ENGINE_REPLY_TIMEOUT", 5.0)
ENGINE_HEARTBEAT_TIMEOUT_S = env_float("ENGINE_HEARTBEAT_TIMEOUT", 5.0)
ENGINE_BATCH_MAX = env_int("ENGINE_BATCH_MAX", 500)
WITHDRAW_TOKENS = [t.strip() for t in os.environ.get("WITHDRAW_TOKENS", "DF").split(",") if t.strip()]
SIGNER_URL = os.environ.get("SIGNER_URL", "")
SIGNER_TIMEOUT_S = env_float("SIGNER_TIMEOUT", 3.0)
SIGNER_LOCAL_KEY = _local_secret("SIGNER_LOCAL_KEY")
RATE_LIMIT_USER = os.environ.get("RATE_LIMIT_USER", "50/second")
RATE_LIMIT_KEY = os.environ.get("RATE_LIMIT_KEY", "50/second")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "exchange",
    "markets",
    "wallets",
    "orders",
    "withdrawals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "exchange.middleware.SpotTradingSwitchMiddleware",
    # Sessions, CSRF, Django's request.user and messages serve the Django admin only (/admin/).
    "exchange.middleware.AdminSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "exchange.middleware.AdminCsrfViewMiddleware",
    "exchange.middleware.AdminAuthenticationMiddleware",
    "exchange.middleware.AdminMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "exchange.urls"
WSGI_APPLICATION = "exchange.wsgi.application"
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
            ]
        },
    }
]

if not os.environ.get("DATABASE_URL"):
    raise RuntimeError(
        "DATABASE_URL is not set: start through `make run` / `make test`, which provide an embedded "
        "PostgreSQL, or export DATABASE_URL=postgresql://user@host:port/db"
    )
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=600)}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("TEST", {})
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"]["NAME"] = os.environ["TEST_DATABASE_NAME"]

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        "KEY_PREFIX": os.environ.get("CACHE_PREFIX", "ex"),
        "TIMEOUT": 300,
    }
}

# Raw Redis keys (engine queues, replies, replay guard) share the cache's prefix, so a test
# run (CACHE_PREFIX=test) never touches a running server's keys on the same Redis.
REDIS_KEY_PREFIX = os.environ.get("CACHE_PREFIX", "ex")

CELERY_BROKER_URL = REDIS_URL
# Celery's queues share the prefix too: deployments (and test runs) on one Redis never take each other's tasks.
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:"}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "exchange.auth.JWTAuthentication",
        "exchange.auth.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["exchange.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": RATE_LIMIT_USER, "api_key": RATE_LIMIT_KEY},
    "DEFAULT_RENDERER_CLASSES": ["exchange.rendering.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["exchange.rendering.OrjsonParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "exchange.rendering.JsonFirstNegotiation",
    "EXCEPTION_HANDLER": "exchange.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "exchange.schema.ExchangeAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Spot exchange API",
    "DESCRIPTION": "Spot markets, orders, balances, transfers and withdrawals. Errors are "
    '`{"error": CODE}` with the status of the contract; 401 has an empty body.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's Swagger UI served from our own static files: works with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
