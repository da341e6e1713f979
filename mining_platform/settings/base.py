"""Settings shared by every mode. Each value comes from the environment (or `.env`), with a
development default that works when PostgreSQL and Redis listen on localhost."""

from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from mining_platform import __version__

# Lets runtime code subscript Django generics (QuerySet[Model], ModelAdmin[Model]) as the stubs do.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# The real environment wins over .env: read_env never overrides variables that are already set.
environ.Env.read_env(BASE_DIR / ".env")

# A placeholder development key; production.py refuses to start with it.
DEV_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# HTTPS hardening that production.py switches on (read here so every variable lives in one file).
PRODUCTION_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
PRODUCTION_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
PLATFORM_VERSION = __version__
SITE_NAME = env.str("SITE_NAME", default="Mining Operations Platform")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sites",
    "allauth",
    "allauth.account",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "channels",
    "mining_platform.core",
    "calculator",
    "crm",
    "hosting",
    "analytics",
    "treasury",
    "billing",
    "chain",
]

MIDDLEWARE = [
    "mining_platform.core.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "mining_platform.core.rbac.AccessPolicyMiddleware",
]

ROOT_URLCONF = "mining_platform.urls"
WSGI_APPLICATION = "mining_platform.wsgi.application"
ASGI_APPLICATION = "mining_platform.asgi.application"
SITE_ID = 1

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
                "mining_platform.core.context_processors.platform",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://mining:mining@127.0.0.1:5432/mining_platform"),
}
# Under ASGI (daphne, uvicorn) Django runs each request in a thread of its own, so a persistent connection
# (CONN_MAX_AGE > 0) is never reused: each request still connects (about 12 ms with scram-sha-256 here)
# and the old connections stay open until collected, so a burst exhausts PostgreSQL's max_connections.
# A pool (psycopg_pool, DATABASE_POOL) hands open connections from request to request instead.
DATABASE_POOL = env.bool("DATABASE_POOL", default=False)
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=10)
if DATABASE_POOL:
    # Django requires CONN_MAX_AGE 0 with a pool: closing a connection gives it back to the pool.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": 10,  # seconds a request waits for a free connection before it fails
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Every key this platform writes to Redis starts with this prefix (cache, locks, channel layer).
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="mp:")

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX.rstrip(":"),
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # No read timeout: an idle consumer waits on a 5 s blocking pop, which redis-py 8's default 5 s
        # socket timeout would cut, closing every websocket that stays quiet for 5 s (code 1011).
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}], "prefix": f"{REDIS_KEY_PREFIX}asgi"},
    }
}

AUTH_USER_MODEL = "core.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "mining_platform.core.accounts.backends.RolePermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "core:main"  # each role lands on its own dashboard

# django-allauth: e-mail and password only, with mandatory verification.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# Login throttling: allauth counts failures per IP and per account in the (Redis) cache.
ACCOUNT_RATE_LIMITS = {
    "login": env.str("ACCOUNT_RATE_LIMIT_LOGIN", default="30/m/ip"),
    "login_failed": env.str("ACCOUNT_RATE_LIMIT_LOGIN_FAILED", default="10/m/ip,5/5m/key"),
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "

# Unset: the console in development, SMTP in production (production.py).
EMAIL_BACKEND_FROM_ENV = env.str("EMAIL_BACKEND", default="")
EMAIL_BACKEND = EMAIL_BACKEND_FROM_ENV or "django.core.mail.backends.console.EmailBackend"
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noreply@localhost")

# Sign-In with Ethereum (EIP-4361).
SIWE_DOMAIN = env.str("SIWE_DOMAIN", default="")  # empty: the request's own host
SIWE_CHAIN_IDS: list[int] = env.list("SIWE_CHAIN_IDS", cast=int, default=[8453, 84532])
SIWE_NONCE_TTL_SECONDS = env.int("SIWE_NONCE_TTL_SECONDS", default=300)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Front-end packages come from npm into node_modules and are served from there: no CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", BASE_DIR / "node_modules" / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", BASE_DIR / "node_modules" / "bootstrap-icons" / "font"),
    ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]

# WhiteNoise serves static files from the ASGI process; in development straight from the finders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mining_platform.core.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mining_platform.core.api.permissions.HasAccessPolicy"],
    "DEFAULT_THROTTLE_CLASSES": [
        "mining_platform.core.api.throttling.ApiKeyRateThrottle",
        "mining_platform.core.api.throttling.AnonIpRateThrottle",
        "mining_platform.core.api.throttling.SessionUserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("API_RATE_LIMIT_KEY", default="600/min"),
        "anon": env.str("API_RATE_LIMIT_ANON", default="60/min"),
        "user": env.str("API_RATE_LIMIT_USER", default="300/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "mining_platform.core.api.exception_handler.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": f"{SITE_NAME} API",
    "DESCRIPTION": "REST API of the mining operations platform. Machines authenticate with "
    "`Authorization: Api-Key <key>`; each key carries scopes.",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets whose field names ("status", "command_step") other serializers use for other choices.
    "ENUM_NAME_OVERRIDES": {
        "CurtailmentStatusEnum": "hosting.choices.CurtailmentStatus",
        "CurtailmentStepEnum": "hosting.choices.CurtailmentStep",
    },
    # Routes served by plain Django views, documented by a DRF stand-in.
    "PREPROCESSING_HOOKS": ["calculator.views_quote.quote_schema_endpoints"],
}

# Celery: Redis broker and results, at-least-once delivery (see STYLE.md section 8).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_EAGER_PROPAGATES = True

# A worker or beat whose last sign of life is older than this is reported down by /healthz.
HEALTH_LIVENESS_MAX_AGE_SECONDS = env.int("HEALTH_LIVENESS_MAX_AGE_SECONDS", default=90)
HEALTH_WORKER_PING_TIMEOUT_SECONDS = env.float("HEALTH_WORKER_PING_TIMEOUT_SECONDS", default=1.0)

# Offline market history shipped with the project (see analytics/data/PROVENANCE.md).
MARKET_DATA_DIR = BASE_DIR / "analytics" / "data"
# Where market and network figures come from: "replay" (the shipped history, no internet) or "live"
# (the exchange and network collectors). Production settings switch to live.
MARKET_DATA_SOURCE_FROM_ENV = env.str("MARKET_DATA_SOURCE", default="")
MARKET_DATA_SOURCE = MARKET_DATA_SOURCE_FROM_ENV or "replay"
if MARKET_DATA_SOURCE not in ("replay", "live"):
    raise ImproperlyConfigured(f"MARKET_DATA_SOURCE must be replay or live, not {MARKET_DATA_SOURCE!r}.")
# Market signals: RSI(14) rising above the first raises "overbought", falling below the second "oversold".
SIGNAL_RSI_OVERBOUGHT = env.float("SIGNAL_RSI_OVERBOUGHT", default=70.0)
SIGNAL_RSI_OVERSOLD = env.float("SIGNAL_RSI_OVERSOLD", default=30.0)
if not 0 < SIGNAL_RSI_OVERSOLD < SIGNAL_RSI_OVERBOUGHT < 100:
    raise ImproperlyConfigured("Signal thresholds need 0 < SIGNAL_RSI_OVERSOLD < SIGNAL_RSI_OVERBOUGHT < 100.")
# Live collectors: each source's base URL (tests and benchmarks point them at local servers), the
# per-source time budget (the whole run is bounded by it, since sources run at once), how old a
# source's own timestamp may be, and how far from the median a price may sit before it is left out.
MARKET_COINGECKO_URL = env.str("MARKET_COINGECKO_URL", default="https://api.coingecko.com")
MARKET_BINANCE_URL = env.str("MARKET_BINANCE_URL", default="https://api.binance.com")
MARKET_OKX_URL = env.str("MARKET_OKX_URL", default="https://www.okx.com")
MARKET_BYBIT_URL = env.str("MARKET_BYBIT_URL", default="https://api.bybit.com")
MARKET_DERIBIT_URL = env.str("MARKET_DERIBIT_URL", default="https://www.deribit.com")
MARKET_BLOCKCHAIN_INFO_URL = env.str("MARKET_BLOCKCHAIN_INFO_URL", default="https://api.blockchain.info")
MARKET_MEMPOOL_URL = env.str("MARKET_MEMPOOL_URL", default="https://mempool.space")
MARKET_SOURCE_TIMEOUT_SECONDS = env.float("MARKET_SOURCE_TIMEOUT_SECONDS", default=8.0)
MARKET_CONNECT_TIMEOUT_SECONDS = env.float("MARKET_CONNECT_TIMEOUT_SECONDS", default=3.0)
MARKET_SOURCE_MAX_AGE_SECONDS = env.int("MARKET_SOURCE_MAX_AGE_SECONDS", default=900)
MARKET_OUTLIER_PERCENT = env.float("MARKET_OUTLIER_PERCENT", default=2.0)
# How long the latest price and difficulty are served from the cache before they are recomputed.
MARKET_PRICE_CACHE_SECONDS = env.int("MARKET_PRICE_CACHE_SECONDS", default=300)
MARKET_DIFFICULTY_CACHE_SECONDS = env.int("MARKET_DIFFICULTY_CACHE_SECONDS", default=900)
# Curtailment: miners with a reading newer than this are eligible; stale ones are left out ("exclude")
# or planned on their model's nominal figures ("nominal"). Recovery holds each miner off at least
# CURTAILMENT_HOLD_MINUTES and brings the site back at most CURTAILMENT_RAMP_KW_PER_MINUTE.
CURTAILMENT_FRESH_SECONDS = env.int("CURTAILMENT_FRESH_SECONDS", default=300)
CURTAILMENT_STALE_POLICY = env.str("CURTAILMENT_STALE_POLICY", default="exclude")
if CURTAILMENT_STALE_POLICY not in ("exclude", "nominal"):
    raise ImproperlyConfigured("CURTAILMENT_STALE_POLICY must be exclude or nominal.")
CURTAILMENT_HOLD_MINUTES = env.int("CURTAILMENT_HOLD_MINUTES", default=10)
CURTAILMENT_RAMP_KW_PER_MINUTE = env.int("CURTAILMENT_RAMP_KW_PER_MINUTE", default=500)
CURTAILMENT_COMMAND_ATTEMPTS = env.int("CURTAILMENT_COMMAND_ATTEMPTS", default=3)
# Seconds before a failed curtail or recover command is tried again (times the attempt number); miners
# commanded at once; and the TTL of a plan's lock, which bounds how long a dead worker holds the plan.
CURTAILMENT_RETRY_BACKOFF_SECONDS = env.float("CURTAILMENT_RETRY_BACKOFF_SECONDS", default=2.0)
CURTAILMENT_COMMAND_CONCURRENCY = env.int("CURTAILMENT_COMMAND_CONCURRENCY", default=200)
CURTAILMENT_LOCK_SECONDS = env.int("CURTAILMENT_LOCK_SECONDS", default=30)
# How long the figures of one calculation are reused for the same inputs at the same market figures.
CALCULATOR_RESULTS_CACHE_SECONDS = env.int("CALCULATOR_RESULTS_CACHE_SECONDS", default=300)
# The quote endpoint (GET /api/v1/calculator/quote): requests per client address (anonymous) or per user
# (signed in), as "count/period" pairs (s, min, h), blank for no limit; and how long browsers and
# proxies may reuse an answer (Cache-Control max-age, seconds).
CALCULATOR_QUOTE_RATE_ANON = env.str("CALCULATOR_QUOTE_RATE_ANON", default="5/s,120/min")
CALCULATOR_QUOTE_RATE_USER = env.str("CALCULATOR_QUOTE_RATE_USER", default="10/s,600/min")
CALCULATOR_QUOTE_MAX_AGE_SECONDS = env.int("CALCULATOR_QUOTE_MAX_AGE_SECONDS", default=30)
# Anonymous quotes answered on the event loop ahead of Django (calculator/asgi_quote.py); off sends all to the view.
CALCULATOR_QUOTE_FAST_PATH = env.bool("CALCULATOR_QUOTE_FAST_PATH", default=True)
# Quotes are recorded in calculation_history through a Redis buffer: flushed every N seconds, in batches
# of this many rows; a full buffer (the flush not running) makes quotes write their rows at once.
CALCULATOR_HISTORY_FLUSH_SECONDS = env.int("CALCULATOR_HISTORY_FLUSH_SECONDS", default=5)
CALCULATOR_HISTORY_FLUSH_ROWS = env.int("CALCULATOR_HISTORY_FLUSH_ROWS", default=1000)
CALCULATOR_HISTORY_BUFFER_MAX_ROWS = env.int("CALCULATOR_HISTORY_BUFFER_MAX_ROWS", default=20_000)
# The largest batch one upload may hold (rows) and the largest file accepted (MB).
CALCULATOR_BATCH_MAX_ROWS = env.int("CALCULATOR_BATCH_MAX_ROWS", default=100_000)
CALCULATOR_BATCH_MAX_FILE_MB = env.int("CALCULATOR_BATCH_MAX_FILE_MB", default=20)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="text")  # "json" for log shippers
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "mining_platform.core.request_id.RequestIdLogFilter"}},
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}

# Password of the demo users that `load_demo` creates (development only).
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo-farm-2026")
# The demo farm's emulated fleet: the Procfile's emulator serves the same count and seed.
DEMO_FLEET_SIZE = env.int("DEMO_FLEET_SIZE", default=300)
DEMO_FLEET_SEED = env.int("DEMO_FLEET_SEED", default=7)

# Telemetry storage: daily partitions are created this many days ahead and dropped after the retention.
TELEMETRY_PARTITION_DAYS_AHEAD = env.int("TELEMETRY_PARTITION_DAYS_AHEAD", default=3)
TELEMETRY_RETENTION_DAYS = env.int("TELEMETRY_RETENTION_DAYS", default=30)
# Miner polling: how often, with what timeouts, how many connections at once, how many miners per task.
TELEMETRY_POLL_INTERVAL_SECONDS = env.int("TELEMETRY_POLL_INTERVAL_SECONDS", default=60)
TELEMETRY_CONNECT_TIMEOUT_SECONDS = env.float("TELEMETRY_CONNECT_TIMEOUT_SECONDS", default=2.0)
TELEMETRY_READ_TIMEOUT_SECONDS = env.float("TELEMETRY_READ_TIMEOUT_SECONDS", default=5.0)
TELEMETRY_POLL_CONCURRENCY = env.int("TELEMETRY_POLL_CONCURRENCY", default=500)
TELEMETRY_SHARD_SIZE = env.int("TELEMETRY_SHARD_SIZE", default=5000)
# Miner control: per-miner timeouts, an overall deadline per command, miners commanded at once.
MINER_CONTROL_CONNECT_TIMEOUT_SECONDS = env.float("MINER_CONTROL_CONNECT_TIMEOUT_SECONDS", default=2.0)
MINER_CONTROL_READ_TIMEOUT_SECONDS = env.float("MINER_CONTROL_READ_TIMEOUT_SECONDS", default=5.0)
MINER_CONTROL_DEADLINE_SECONDS = env.float("MINER_CONTROL_DEADLINE_SECONDS", default=20.0)
MINER_CONTROL_CONCURRENCY = env.int("MINER_CONTROL_CONCURRENCY", default=50)
# Firmware credentials for control paths that need them (Antminer web CGI, Whatsminer write API); the
# defaults are the makers' published factory values, which a farm should change on its miners.
MINER_ANTMINER_WEB_USER = env.str("MINER_ANTMINER_WEB_USER", default="root")
MINER_ANTMINER_WEB_PASSWORD = env.str("MINER_ANTMINER_WEB_PASSWORD", default="root")
MINER_WHATSMINER_PASSWORD = env.str("MINER_WHATSMINER_PASSWORD", default="admin")
