"""liqplatform settings, read from environment variables.

Every value comes through one of the small helpers below, which fail loudly on a bad value rather
than silently falling back to a default.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use one of 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    value = os.environ.get(name, default)
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in schemes:
        raise ImproperlyConfigured(f"{name}={value!r} must be a URL starting with one of {', '.join(schemes)}")
    return value


def database_from_url(url: str) -> dict[str, Any]:
    try:
        config = dict(dj_database_url.parse(url, conn_max_age=60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} is not a database URL: {exc}") from None
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no supported database engine")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {"timeout": 20}
    return config


# Embedded mode: no PostgreSQL or Redis needed. SQLite in var/, Celery tasks run in-process,
# a local-memory cache. `make run` switches it on when the services cannot be reached.
EMBEDDED = env_bool("LIQ_EMBEDDED", False)
VAR_DIR = Path(env_str("LIQ_VAR_DIR", str(BASE_DIR / "var")))

_DEVELOPMENT_SECRET_KEY = "insecure-development-key-do-not-use-in-production"
# Keys that are published somewhere (a placeholder, a tutorial's, our own development key).
_KNOWN_SECRET_KEY_PARTS = ("changeme", "change-me", "change_me", "insecure", "your-secret-key", "secret-key-here")


def secret_key_weakness(key: str) -> str:
    """Why `key` would let others forge sessions and signed links, or "" when it will do."""
    lowered = key.lower()
    if lowered.startswith("django-insecure-"):
        return "Django's development placeholder (django-insecure-…)"
    if any(part in lowered for part in _KNOWN_SECRET_KEY_PARTS):
        return "a well-known placeholder value"
    if len(key) < 50:
        return f"only {len(key)} characters long"
    return ""


SECRET_KEY = env_str("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
if not SECRET_KEY:
    # The fixed fallback key would let anyone forge sessions: only for development and the test suite.
    if not DEBUG and not env_bool("LIQ_TESTING", False):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = _DEVELOPMENT_SECRET_KEY
elif not DEBUG and not env_bool("LIQ_TESTING", False) and (_weakness := secret_key_weakness(SECRET_KEY)):
    # Django's own check only warns, and a warning scrolls by: a forgeable session is not a warning.
    raise ImproperlyConfigured(
        f"SECRET_KEY is {_weakness}: with DEBUG off it must be 50+ random characters "
        '(python -c "import secrets; print(secrets.token_urlsafe(50))")'
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000", schemes=("http", "https"))
CSRF_TRUSTED_ORIGINS = [SITE_URL]

# Served over https (SITE_URL says so): secure cookies, redirect to https, HSTS.
HTTPS = SITE_URL.startswith("https://")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Sessions are written through to PostgreSQL and read from the cache: a signed-in page needs no
# database round trip to find out who is asking, and a Redis restart loses no one's sign-in.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 30 * 24 * 3600 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
# Preloading is a commitment for the whole domain that only its owner can make (docs/deploy.md).
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
BEHIND_PROXY = env_bool("LIQ_BEHIND_PROXY", False)
if BEHIND_PROXY:  # a TLS-terminating proxy that sets X-Forwarded-Proto and X-Forwarded-For
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The client is the address the proxy saw, not the proxy itself; login rate limits and
    # lockouts key on it (accounts.lockout.client_ip reads it the same way).
    ALLAUTH_TRUSTED_PROXY_COUNT = 1

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "allauth",
    "allauth.account",
    "axes",
    "accounts",
    "heatmaps",
]

MIDDLEWARE = [
    "liqplatform.observability.RequestIdMiddleware",
    # TRACE and its kin are a 405 before anything reads them; personal views' answers are never stored.
    "liqplatform.security.RefuseMethodsMiddleware",
    "liqplatform.security.PersonalNoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "liqplatform.api_policy.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last, as axes asks: it turns a login that axes refused into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Scripts only from our own origin (htmx is vendored, no inline scripts); inline styles are allowed
# because htmx injects its indicator styles.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

ROOT_URLCONF = "liqplatform.urls"
WSGI_APPLICATION = "liqplatform.wsgi.application"

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
                "accounts.context_processors.watchlists",
                "heatmaps.context_processors.market_mode",
            ],
        },
    },
]

_default_db = (
    f"sqlite:///{VAR_DIR / 'liqplatform.sqlite3'}" if EMBEDDED else "postgres://postgres@127.0.0.1:5432/liqplatform"
)
DATABASE_URL = env_str("DATABASE_URL", _default_db)
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: it refuses a locked-out client before any backend checks the password. The site login
# (allauth) and the admin login both pass the request to authenticate(), which axes needs. allauth's
# backend is Django's ModelBackend plus email logins; listing ModelBackend as well would hash every
# wrong password twice.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

# Accounts (django-allauth, account app only): sign in by username or email, a verified email before
# the first sign-in, password reset by email.
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[liqplatform] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if HTTPS else "http"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
# allauth's per-login-name failure limit would let anyone lock a trader out from anywhere; axes
# locks the name only from the address that failed. allauth keeps its per-address limit against
# password spraying over many names.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip"}
# Over that limit, the lockout page (429, Retry-After) instead of a form error on a 200 page.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"

# Brute-force protection (django-axes) on the site and admin logins: after AXES_FAILURE_LIMIT wrong
# passwords for one login name from one address, that pair is refused for the cool-off time.
AXES_FAILURE_LIMIT = env_int("LIQ_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LIQ_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts while locked out do not restart the cool-off, so the lockout page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_USERNAME_CALLABLE = "accounts.lockout.login_identifier"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# Across addresses: after this many wrong passwords for one account within the window (from any
# addresses), only addresses it signed in from before may sign in to it (accounts/login_ceiling.py).
LIQ_LOGIN_ACCOUNT_FAILURE_LIMIT = env_int("LIQ_LOGIN_ACCOUNT_FAILURE_LIMIT", 20, minimum=1)
LIQ_LOGIN_ACCOUNT_WINDOW_HOURS = env_int("LIQ_LOGIN_ACCOUNT_WINDOW_HOURS", 24, minimum=1)
AXES_HANDLER = "accounts.login_ceiling.LoginGuardHandler"
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # one row per wrong password: what the ceiling counts

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served by WhiteNoise. Production serves the collected, hashed and compressed files (`make serve`
# runs collectstatic); development and the test suite read them straight from static/.
LIQ_STATIC_MANIFEST = env_bool("LIQ_STATIC_MANIFEST", not DEBUG and not env_bool("LIQ_TESTING", False))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if LIQ_STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

TESTING = env_bool("LIQ_TESTING", False)
# The test suite uses its own Redis database so it never touches a running platform's queues.
REDIS_URL = env_url(
    "REDIS_URL",
    "redis://127.0.0.1:6379/1" if TESTING else "redis://127.0.0.1:6379/0",
    schemes=("redis", "rediss", "unix"),
)

# Public market pages rendered for visitors without a session are shared between them for this long
# (heatmaps/views/visitor_cache.py), and the asset page's market part between signed-in traders
# (heatmaps/views/asset.py). The most a page's market figures can lag. 0 turns both off.
LIQ_PAGE_CACHE_SECONDS = env_int("LIQ_PAGE_CACHE_SECONDS", 0 if TESTING else 5, minimum=0)
# A live event stream (/assets/<symbol>/events) with nothing to send writes a comment line this often,
# so proxies and load balancers keep the idle connection open (most close after 30-60 s).
LIQ_LIVE_KEEPALIVE_SECONDS = env_int("LIQ_LIVE_KEEPALIVE_SECONDS", 15, minimum=1)
# How many personal heat-map models (accounts.PersonalModel) one trader may keep.
LIQ_PERSONAL_MODELS_MAX = env_int("LIQ_PERSONAL_MODELS_MAX", 10, minimum=1)

CACHES: dict[str, dict[str, Any]]
if EMBEDDED:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {
        "default": {
            # A Redis outage is a cache miss, not an error page (liqplatform/cache.py).
            "BACKEND": "liqplatform.cache.TolerantRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("LIQ_CACHE_PREFIX", "liq"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

_email_backend = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG or EMBEDDED
    else "django.core.mail.backends.smtp.EmailBackend",
)
_email_options: dict[str, Any] = {}
if _email_backend.endswith("smtp.EmailBackend"):
    _email_options = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25, minimum=1),
        "username": env_str("EMAIL_HOST_USER", ""),
        "password": env_str("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
    }
MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "liqplatform <noreply@localhost>")

# Celery. The broker is Redis; visibility_timeout must exceed every hard time limit, countdown and
# maximum retry backoff, or Redis redelivers a task that is still running.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None if EMBEDDED else REDIS_URL
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_VISIBILITY_TIMEOUT = 2 * 60 * 60
# Task priorities 0-9, 0 first (heatmaps.tasks.LONG_MAPS_PRIORITY): each level of a queue is its own Redis
# list, and a worker reads a queue's lists in that order.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "priority_steps": list(range(10)),
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "compute"
CELERY_TASK_ROUTES = {
    "heatmaps.ingest_*": {"queue": "ingest"},
    "heatmaps.backfill_*": {"queue": "ingest"},
    "heatmaps.repair_*": {"queue": "ingest"},
    "heatmaps.hyperliquid_*": {"queue": "ingest"},
    "heatmaps.recompute_*": {"queue": "compute"},
    "heatmaps.refresh_*": {"queue": "compute"},
    "heatmaps.maintain_*": {"queue": "compute"},
    "accounts.*": {"queue": "notify"},
}
# One beat, a small static schedule; each tick fans out per asset and re-derives its work from the
# newest stored timestamp, so a lost message costs nothing.
# The schedule lives in Redis under a lock (celery-redbeat): a second beat process waits for the
# lock instead of doubling every tick, and takes over within LIQ_BEAT_LOCK_TIMEOUT if the first dies.
CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
LIQ_BEAT_KEY_PREFIX = env_str("LIQ_BEAT_KEY_PREFIX", "liq:beat:")
LIQ_BEAT_LOCK_TIMEOUT = env_int("LIQ_BEAT_LOCK_TIMEOUT", 90, minimum=10)
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
# A {"crontab": {...}} schedule becomes a Celery crontab in liqplatform/celery.py: the settings, which
# every command loads, do not import Celery.
CELERY_BEAT_SCHEDULE = {
    "ingest-candles": {"task": "heatmaps.ingest_tick", "schedule": 60.0, "args": ["candles"]},
    "ingest-open-interest": {"task": "heatmaps.ingest_tick", "schedule": 300.0, "args": ["open_interest"]},
    "ingest-funding": {"task": "heatmaps.ingest_tick", "schedule": 3600.0, "args": ["funding"]},
    "ingest-ticker": {"task": "heatmaps.ingest_ticker_tick", "schedule": 60.0},
    "refresh-short-maps": {"task": "heatmaps.refresh_short_maps", "schedule": 60.0},
    "repair-gaps": {"task": "heatmaps.repair_gaps_tick", "schedule": 3600.0},
    "heartbeat": {"task": "heatmaps.heartbeat", "schedule": float(env_int("LIQ_HEARTBEAT_SECONDS", 30, minimum=1))},
    "backtest-magnets": {"task": "heatmaps.backtest_tick", "schedule": 86400.0},
    # Hyperliquid's measured layer: the tracked accounts that are due, within their weight budget.
    "hyperliquid-sweep": {"task": "heatmaps.hyperliquid_sweep", "schedule": 60.0},
    # Daily, at a quiet minute: next months' partitions, rows rescued from DEFAULT, retention.
    "maintain-partitions": {"task": "heatmaps.maintain_partitions", "schedule": {"crontab": {"minute": 17, "hour": 3}}},
    # Daily: OKX contract sizes (ctVal) of every swap, which the liquidation recorder converts with.
    "refresh-instruments": {"task": "heatmaps.refresh_instruments", "schedule": {"crontab": {"minute": 23, "hour": 3}}},
    # Daily: model v2's margin and leverage, the risk-limit brackets of every asset on Bybit and OKX.
    "refresh-risk-limits": {"task": "heatmaps.risk_limits_tick", "schedule": {"crontab": {"minute": 41, "hour": 3}}},
}

# Exchange endpoints (override to point at a mirror, a proxy or a test server).
LIQ_BINANCE_FAPI_URL = env_url("LIQ_BINANCE_FAPI_URL", "https://fapi.binance.com", schemes=("http", "https"))
LIQ_BINANCE_WS_URL = env_url(
    "LIQ_BINANCE_WS_URL", "wss://fstream.binance.com/market/ws/!forceOrder@arr", schemes=("ws", "wss")
)
LIQ_BYBIT_URL = env_url("LIQ_BYBIT_URL", "https://api.bybit.com", schemes=("http", "https"))
LIQ_BYBIT_WS_URL = env_url("LIQ_BYBIT_WS_URL", "wss://stream.bybit.com/v5/public/linear", schemes=("ws", "wss"))
LIQ_OKX_URL = env_url("LIQ_OKX_URL", "https://www.okx.com", schemes=("http", "https"))
LIQ_OKX_WS_URL = env_url("LIQ_OKX_WS_URL", "wss://ws.okx.com:8443/ws/v5/public", schemes=("ws", "wss"))
LIQ_HYPERLIQUID_URL = env_url("LIQ_HYPERLIQUID_URL", "https://api.hyperliquid.xyz", schemes=("http", "https"))
LIQ_HYPERLIQUID_WS_URL = env_url("LIQ_HYPERLIQUID_WS_URL", "wss://api.hyperliquid.xyz/ws", schemes=("ws", "wss"))
# The measured layer: the public leaderboard's host, and the info-API weight a minute the account sweep may use
# of the 1 200 an IP has (the rest stays for candles, open interest and funding).
LIQ_HYPERLIQUID_LEADERBOARD_URL = env_url(
    "LIQ_HYPERLIQUID_LEADERBOARD_URL", "https://stats-data.hyperliquid.xyz", schemes=("http", "https")
)
LIQ_HYPERLIQUID_SWEEP_WEIGHT = env_int("LIQ_HYPERLIQUID_SWEEP_WEIGHT", 600, minimum=22)
LIQ_BITGET_URL = env_url("LIQ_BITGET_URL", "https://api.bitget.com", schemes=("http", "https"))
LIQ_BITGET_WS_URL = env_url("LIQ_BITGET_WS_URL", "wss://ws.bitget.com/v2/ws/public", schemes=("ws", "wss"))
LIQ_GATE_URL = env_url("LIQ_GATE_URL", "https://api.gateio.ws", schemes=("http", "https"))
LIQ_GATE_WS_URL = env_url("LIQ_GATE_WS_URL", "wss://fx-ws.gateio.ws/v4/ws/usdt", schemes=("ws", "wss"))
LIQ_BITMEX_URL = env_url("LIQ_BITMEX_URL", "https://www.bitmex.com", schemes=("http", "https"))
LIQ_BITMEX_WS_URL = env_url("LIQ_BITMEX_WS_URL", "wss://ws.bitmex.com/realtime", schemes=("ws", "wss"))
LIQ_DERIBIT_URL = env_url("LIQ_DERIBIT_URL", "https://www.deribit.com", schemes=("http", "https"))
LIQ_DERIBIT_WS_URL = env_url("LIQ_DERIBIT_WS_URL", "wss://www.deribit.com/ws/api/v2", schemes=("ws", "wss"))
# Market-data streams (stream_market): Binance's combined stream, OKX's candles on its business endpoint;
# every other venue's (Bybit, OKX public, Hyperliquid, Bitget, Gate, BitMEX, Deribit) is its *_WS_URL above.
LIQ_BINANCE_MARKET_WS_URL = env_url(
    "LIQ_BINANCE_MARKET_WS_URL", "wss://fstream.binance.com/market/stream", schemes=("ws", "wss")
)
LIQ_OKX_BUSINESS_WS_URL = env_url(
    "LIQ_OKX_BUSINESS_WS_URL", "wss://ws.okx.com:8443/ws/v5/business", schemes=("ws", "wss")
)
LIQ_MARKET_REFRESH_SECONDS = env_int("LIQ_MARKET_REFRESH_SECONDS", 30, minimum=1)  # enabled assets re-read
LIQ_BINANCE_OI_POLL_SECONDS = env_int("LIQ_BINANCE_OI_POLL_SECONDS", 12, minimum=1)  # Binance has no OI stream
LIQ_MARKET_REPAIR_DAYS = env_int("LIQ_MARKET_REPAIR_DAYS", 1, minimum=1)  # holes looked for after a reconnect
# The offline demo (`make run` when no exchange answers): the sample replayed as a live market by a Binance
# stand-in on 127.0.0.1 (manage.py replay_market). scripts/run.sh sets LIQ_REPLAY=1 for every process then,
# and pages label the data "replay of sample data". The replay streams the sample's last
# LIQ_REPLAY_CATCHUP_BARS bars LIQ_REPLAY_SPEED times as fast as real time, then follows the clock.
# "auto" (scripts/run.sh: replay when Binance does not answer) counts as off for every other process.
LIQ_REPLAY = env_str("LIQ_REPLAY", "auto").strip().lower() != "auto" and env_bool("LIQ_REPLAY", False)
LIQ_REPLAY_SPEED = env_int("LIQ_REPLAY_SPEED", 60, minimum=1)
LIQ_REPLAY_CATCHUP_BARS = env_int("LIQ_REPLAY_CATCHUP_BARS", 72, minimum=1)
LIQ_REPLAY_PORT = env_int("LIQ_REPLAY_PORT", 8790, minimum=1)
LIQ_HTTP_TIMEOUT = env_int("LIQ_HTTP_TIMEOUT", 10, minimum=1)
# Days fetched for an asset × exchange with nothing stored yet; gap repair looks this far back too.
LIQ_INGEST_LOOKBACK_DAYS = env_int("LIQ_INGEST_LOOKBACK_DAYS", 2, minimum=1)
LIQ_GAP_REPAIR_DAYS = env_int("LIQ_GAP_REPAIR_DAYS", 7, minimum=1)
# New data recomputes an asset's due maps at once, coalesced: while one compute of the asset is queued or
# running, further triggers only mark it dirty. The mark expires after this long, so a worker killed
# mid-compute cannot hold the asset's maps back for longer (above the slowest all-timeframe compute).
LIQ_RECOMPUTE_PENDING_SECONDS = env_int("LIQ_RECOMPUTE_PENDING_SECONDS", 600, minimum=30)
# Raw candles and open interest older than the current month and this many months before it are
# dropped, a whole monthly partition at a time (PostgreSQL only); 0 keeps everything. Stored heat
# maps are kept, but the 1y map needs 25 months of raw data to be recomputed with its full warm-up.
LIQ_RETENTION_MONTHS = env_int("LIQ_RETENTION_MONTHS", 0, minimum=0)

# The REST API (/api/v1/): personal tokens first, so a request without credentials gets a 401 with
# `WWW-Authenticate: Bearer`; the pages' own calls authenticate with the session (and CSRF on writes).
# JSON only: CSV and PNG exports are ordinary query parameters of the heat-map endpoint, not DRF formats.
LIQ_API_ANON_RATE = env_str("LIQ_API_ANON_RATE", "120/min")
LIQ_API_USER_RATE = env_str("LIQ_API_USER_RATE", "600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's parsers with a body size and a JSON depth limit, and Django's refusal of a body as the
    # API's JSON 400 (liqplatform/api_policy.py).
    "DEFAULT_PARSER_CLASSES": [
        "liqplatform.api_policy.BoundedJSONParser",
        "liqplatform.api_policy.BoundedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "liqplatform.api_policy.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "liqplatform.api_policy.AnonymousRateThrottle",
        "liqplatform.api_policy.PerUserRateThrottle",
    ],
    # The client address for anonymous limits: REMOTE_ADDR, or the one address the proxy appended.
    # (DRF's default, None, would trust whatever X-Forwarded-For a client sends.)
    "NUM_PROXIES": 1 if BEHIND_PROXY else 0,
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
for _name, _rate in (("LIQ_API_ANON_RATE", LIQ_API_ANON_RATE), ("LIQ_API_USER_RATE", LIQ_API_USER_RATE)):
    _count, _, _period = _rate.partition("/")
    if _rate != "off" and (not _count.isdigit() or not _period or _period[0] not in "smhd"):
        raise ImproperlyConfigured(
            f"{_name}={_rate!r} must look like 120/min (a count per s, min, hour or day), or be off"
        )

# OpenAPI 3 at /api/schema/ and Swagger UI at /api/docs/, its files served
# from our own static files (drf-spectacular-sidecar) so the Content-Security-Policy stays as it is.
SPECTACULAR_SETTINGS = {
    "TITLE": "liqplatform API",
    "DESCRIPTION": (
        "Liquidation heat maps and the market data behind them (public, throttled), and your own "
        "watchlists, annotations and API tokens (a personal token or the site session). "
        "Prices in the quote currency, amounts in USD, times in UTC (ISO 8601 or milliseconds since the epoch)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TimeframeEnum": "heatmaps.engine.TIMEFRAMES",
        # An alert's cluster side (above/below the price), not a map's side (longs/shorts).
        "AlertSideEnum": "accounts.serializers.CLUSTER_SIDES",
    },
    # Only /api/v1/ is the public contract (the schema view and the docs page are not endpoints of it).
    "PREPROCESSING_HOOKS": ["liqplatform.api_policy.only_v1_endpoints"],
}

# Readiness (/readyz): the newest bar of each enabled asset must be younger than this.
LIQ_READY_MAX_BAR_AGE_MINUTES = env_int("LIQ_READY_MAX_BAR_AGE_MINUTES", 15, minimum=1)
# Heartbeats older than this mark beat or the workers as down.
LIQ_HEARTBEAT_MAX_AGE_SECONDS = env_int("LIQ_HEARTBEAT_MAX_AGE_SECONDS", 120, minimum=30)
# /metrics: with a token, only `Authorization: Bearer <token>`; without one, only loopback and
# private addresses (a scraper inside the network), never the public internet, and not at all behind
# a proxy (LIQ_BEHIND_PROXY), where every request comes from the proxy's address.
LIQ_METRICS_TOKEN = env_str("LIQ_METRICS_TOKEN", "")

# Plain lines for a terminal; one JSON object per line (with request and task ids) in production.
LIQ_LOG_FORMAT = env_str("LIQ_LOG_FORMAT", "plain" if DEBUG or TESTING or EMBEDDED else "json")
if LIQ_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LIQ_LOG_FORMAT={LIQ_LOG_FORMAT!r} must be plain or json")
_log_level = env_str("LIQ_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "liqplatform.observability.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LIQ_LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "heatmaps": {"handlers": ["console"], "level": _log_level, "propagate": False},
        "accounts": {"handlers": ["console"], "level": _log_level, "propagate": False},
        "liqplatform": {"handlers": ["console"], "level": _log_level, "propagate": False},
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Webhook delivery: plain http only for development, loopback only for tests (refused otherwise).
LIQ_WEBHOOK_ALLOW_LOCAL = env_bool("LIQ_WEBHOOK_ALLOW_LOCAL", False)
LIQ_WEBHOOK_ALLOW_HTTP = env_bool("LIQ_WEBHOOK_ALLOW_HTTP", DEBUG)
# Alert destinations: the services' API roots (tests point them at stand-in servers on 127.0.0.1).
LIQ_TELEGRAM_API_URL = env_url("LIQ_TELEGRAM_API_URL", "https://api.telegram.org", schemes=("http", "https"))
LIQ_DISCORD_API_URL = env_url("LIQ_DISCORD_API_URL", "https://discord.com/api/v10", schemes=("http", "https"))
# Encrypts destination secrets at rest; defaults to a key derived from SECRET_KEY.
LIQ_SECRETS_KEY = os.environ.get("LIQ_SECRETS_KEY", "")
