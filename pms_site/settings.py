"""Settings come from the environment; local runs fall back to generated files under var/."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PMS_VAR_DIR", BASE_DIR / "var"))
SECRETS_DIR = VAR_DIR / "secrets"


def env_bool(name, default=False):
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def local_secret(name):
    """Read var/secrets/<name>, generating it on first use (local runs only)."""
    path = SECRETS_DIR / name
    if not path.exists():
        SECRETS_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def local_database_url():
    password = (SECRETS_DIR / "db_password").read_text().strip()
    port = os.environ.get("PMS_PG_PORT", "54329")
    return f"postgres://pms:{password}@127.0.0.1:{port}/pms"


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or local_secret("secret_key")
DEBUG = env_bool("DJANGO_DEBUG")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "import_export",
    "assets",
    "stock",
    "telemetry",
    "alarms",
    "analytics",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "pms_site.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "pms_site.urls"
WSGI_APPLICATION = "pms_site.wsgi.application"

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
            # The one date-time and duration format (when, duration, ago) on every page without a load.
            "builtins": ["web.templatetags.web_tags"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or local_database_url(),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Connection pooling (docs/scaling.md). DATABASE_POOL=psycopg: Django's own psycopg pool in each process
# (connections are returned to it after each request or task instead of being kept per thread);
# DATABASE_POOL=pgbouncer: PgBouncer in transaction mode in front, which hands each transaction any server
# connection, so no server-side cursor may outlive one (Django's .iterator() declares one outside of
# transactions).
DATABASE_POOL = os.environ.get("DATABASE_POOL", "")
if DATABASE_POOL == "psycopg":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DATABASE_POOL_MIN", "2")),
        "max_size": int(os.environ.get("DATABASE_POOL_MAX", "8")),
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT_S", "10")),
    }
elif DATABASE_POOL == "pgbouncer":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
elif DATABASE_POOL:
    raise ValueError(f"DATABASE_POOL must be psycopg, pgbouncer or empty, not {DATABASE_POOL!r}")
# A streaming replica for the pages' reads (pms_site/db_routers.py); a user who has just written reads from
# the primary for DATABASE_REPLICA_PIN_S seconds. The test run mirrors it onto the test database.
DATABASE_REPLICA_PIN_S = int(os.environ.get("DATABASE_REPLICA_PIN_S", "10"))
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = {
        **dj_database_url.parse(
            os.environ["DATABASE_REPLICA_URL"],
            conn_max_age=DATABASES["default"]["CONN_MAX_AGE"],
            conn_health_checks=True,
        ),
        "OPTIONS": DATABASES["default"].get("OPTIONS", {}),
        "DISABLE_SERVER_SIDE_CURSORS": DATABASES["default"].get("DISABLE_SERVER_SIDE_CURSORS", False),
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["pms_site.db_routers.PrimaryReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("pms_site.middleware.DatabaseUnavailableMiddleware") + 1,
        "pms_site.db_routers.ReplicaReadsMiddleware",
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
# Pages show a site or pack as stale when it has sent no data for this many minutes.
PMS_STALE_AFTER_MINUTES = int(os.environ.get("PMS_STALE_AFTER_MINUTES", "5"))

LANGUAGE_CODE = "en-us"
# Dates and times as "2026-11-25 14:05" in the admin too (pms_site/timefmt.py has the pages' format).
FORMAT_MODULE_PATH = "pms_site.formats"
# The warehouse's time zone: times of what is on no site, of the admin, of the logs. A site's pages and
# exports use the site's own zone.
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "Asia/Bangkok")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", VAR_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Security: HTTPS, a Content Security Policy, login lockout, session expiry ----------------------------
# DJANGO_HTTPS=1 where the site is served over HTTPS (itself or behind a TLS-terminating proxy, which then
# names its header in DJANGO_PROXY_SSL_HEADER, e.g. X-Forwarded-Proto): HTTP is redirected, browsers are told
# to use HTTPS only (HSTS), and cookies are sent over HTTPS only. `make run` serves plain HTTP on 127.0.0.1.
HTTPS = env_bool("DJANGO_HTTPS")
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000" if HTTPS else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", HTTPS)
if os.environ.get("DJANGO_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + os.environ["DJANGO_PROXY_SSL_HEADER"].upper().replace("-", "_"),
        "https",
    )
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE or HTTPS
# A session lasts one working shift from login. It is not ended when the browser closes: phones seldom close
# their browser, so that would not bound it, and a shift's fixed length does.
SESSION_COOKIE_AGE = int(os.environ.get("DJANGO_SESSION_HOURS", "8")) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = False

# Scripts, styles and everything else come from this site only; no inline scripts or styles.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# After AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is locked out of the
# site and admin logins for AXES_COOLOFF_TIME (the answer is 429 with templates/registration/locked_out.html).
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["csp.middleware.CSPMiddleware", "axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an unauthenticated request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "pms_site.drf.LimitOffsetPagination",
    # The browsable API with the inline styles it needs allowed (see pms_site.renderers).
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "pms_site.renderers.BrowsableAPIRenderer",
    ],
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "pms_site.drf.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PMS Site API",
    "DESCRIPTION": "Master data and telemetry ingest for battery energy-storage sites.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "Kind": "assets.models.Kind",
        "Status": "assets.models.Status",
        "RestingStatus": "assets.serializers.RESTING_STATUS_CHOICES",
    },
    # Swagger UI and ReDoc served from this site (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pms_site.openapi.document_error_responses",
        # The ingest endpoint is a plain Django view (the hot path): its operation is written out there.
        "telemetry.api.document_ingest_endpoint",
    ],
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Broker outages: the worker reconnects for as long as it takes, and nothing waits on a dead Redis for
# seconds (tests/reliability/test_broker_outage.py). Landed batches are safe in PostgreSQL meanwhile: the
# ingest sweep queues again what a down broker did not take.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # default 100 (about 50 min), then the worker would exit
# Kombu's publisher retries a refused connection, sleeping 2 s, 4 s... until this timeout (default 4 s): a
# publish to a down broker took 6 s. max_retries=0 below makes it fail at once; this only bounds the rest.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECT_TIMEOUT_S", "1"))
# A running acks-late task is left to finish when the connection drops (its work is idempotent: a done batch
# is skipped if the message comes again); set explicitly, as Celery 6 changes the default.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BROKER_TRANSPORT_OPTIONS |= {
    # Publishing gives up on the first refused connection instead of retrying it for seconds; Celery's own
    # publish retry (task_publish_retry_policy: 3 tries, 0.2 s apart) and the sweep cover the rest. The
    # worker's consumer reconnects by its own loop (above), not by this option.
    "max_retries": 0,
    # Connecting to Redis takes a millisecond on a LAN: a broker that does not answer SYN in 1 s is down.
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    # A command (publish, ack) on a Redis that hangs or vanished without closing the connection would wait
    # for ever without a timeout; Redis answers within milliseconds.
    "socket_timeout": float(os.environ.get("CELERY_BROKER_SOCKET_TIMEOUT_S", "2")),
    # No resend after a timeout: the command may have run (a second LPUSH would queue the task twice), and
    # a resend doubles the wait.
    "retry_on_timeout": False,
    # Idle connections are PINGed before use after this many seconds, and kombu drops a BRPOP or pub/sub
    # connection that went silent: a half-open connection is found in ~brpop_timeout + 2 x 10 s (not 51 s).
    "health_check_interval": 10,
}
# Celery's Django fixup closes the database connection around every task unless told to reuse it; a new
# connection costs more than most tasks (measured: a no-op task ran at 46/s, 55% of it connecting).
CELERY_DB_REUSE_MAX = 500
CELERY_IMPORTS = ["telemetry.rollup_tasks"]
# A queue per concern, so a backlog of one never delays another, and each can have workers of its own, on
# hosts of their own (docs/deploy.md): ingest, alarms, rollups with retention, and Celery's default queue
# for the rest. A worker started without -Q consumes all four (the tests' workers); `make run` starts one
# for ingest and one for the others (scripts/run.sh says why).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [
    # Each bound by its own name (by default all four are bound to the exchange's key "celery").
    Queue(name, routing_key=name)
    for name in ("ingest", "alarms", "rollups", CELERY_TASK_DEFAULT_QUEUE)
]
CELERY_TASK_ROUTES = {
    "telemetry.process_batch": {"queue": "ingest"},
    "telemetry.requeue_stale_batches": {"queue": "ingest"},
    "alarms.evaluate_sites": {"queue": "alarms"},
    "alarms.check_staleness": {"queue": "alarms"},
    "telemetry.refresh_rollups_1m": {"queue": "rollups"},
    "telemetry.refresh_rollups_1h": {"queue": "rollups"},
    "telemetry.refresh_late_rollups": {"queue": "rollups"},
    "telemetry.drop_old_readings": {"queue": "rollups"},
    "telemetry.drop_old_batches": {"queue": "rollups"},
    # Derived data recomputed in the background: never ahead of ingest.
    "telemetry.reattribute_readings": {"queue": "rollups"},
    "telemetry.requeue_stale_reattributions": {"queue": "rollups"},
    "analytics.refresh_analytics": {"queue": "rollups"},
}
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "telemetry.worker_heartbeat", "schedule": 30.0},
    "alarm-staleness": {"task": "alarms.check_staleness", "schedule": 30.0, "options": {"expires": 30}},
    "rollups-1m": {"task": "telemetry.refresh_rollups_1m", "schedule": 60.0, "options": {"expires": 60}},
    "rollups-1h": {"task": "telemetry.refresh_rollups_1h", "schedule": 600.0, "options": {"expires": 600}},
    "rollups-late": {"task": "telemetry.refresh_late_rollups", "schedule": 60.0, "options": {"expires": 60}},
    "ingest-sweep": {"task": "telemetry.requeue_stale_batches", "schedule": 10.0, "options": {"expires": 10}},
    "reattribution-sweep": {
        "task": "telemetry.requeue_stale_reattributions",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    "drop-old-readings": {
        "task": "telemetry.drop_old_readings",
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 3600},
    },
    "drop-old-batches": {
        "task": "telemetry.drop_old_batches",
        "schedule": crontab(hour=3, minute=47),
        "options": {"expires": 3600},
    },
    "spare-levels": {
        "task": "stock.check_spare_levels",
        "schedule": crontab(hour=5, minute=7),
        "options": {"expires": 3600},
    },
}

# Rollups re-compute recent buckets on every run, so readings arriving up to this late are still counted.
TELEMETRY_ROLLUP_1M_LATENESS = timedelta(minutes=int(os.environ.get("TELEMETRY_ROLLUP_1M_LATE_MIN", "10")))
TELEMETRY_ROLLUP_1H_LATENESS = timedelta(minutes=int(os.environ.get("TELEMETRY_ROLLUP_1H_LATE_MIN", "120")))
# Readings later than that note their minutes as due; a worker refreshes the due minutes this long after the
# first ingest that noted some, so the batches of a gateway's backlog share one refresh of their hours.
TELEMETRY_LATE_ROLLUPS_DELAY = timedelta(seconds=int(os.environ.get("TELEMETRY_LATE_ROLLUPS_DELAY_S", "5")))
# Ingest: bodies above INGEST_MAX_BODY_BYTES get 413. Every 10 s beat's sweep ("ingest-sweep") queues
# again a batch still pending INGEST_SWEEP_AFTER after it was queued (broker down, message lost), and one left
# "processing" by a dead worker INGEST_ABANDONED_AFTER after its attempt started (docs/reliability.md). An
# operational error is retried with backoff up to INGEST_RETRY_BACKOFF_MAX seconds (below the sweep's delay,
# so the sweep does not queue it twice); after INGEST_MAX_ATTEMPTS attempts the batch is failed.
INGEST_MAX_BODY_BYTES = int(os.environ.get("INGEST_MAX_BODY_BYTES", str(2 * 1024 * 1024)))
INGEST_SWEEP_AFTER = timedelta(seconds=int(os.environ.get("INGEST_SWEEP_AFTER_S", "30")))
INGEST_ABANDONED_AFTER = timedelta(seconds=int(os.environ.get("INGEST_ABANDONED_AFTER_S", "5")))
INGEST_SWEEP_LIMIT = 1000
INGEST_MAX_ATTEMPTS = 10
# Beat's "reattribution-sweep" queues again a running re-attribution that has not moved on for this long (its
# message was lost: broker restarted, worker killed); a step is idempotent, so a duplicate costs nothing.
REATTRIBUTION_SWEEP_AFTER = timedelta(seconds=int(os.environ.get("REATTRIBUTION_SWEEP_AFTER_S", "120")))
# After each step of a re-attribution, its worker process rests this many times as long as the step took
# before the next: the database then spends at most 1 / (1 + ratio) of the time on it, and ingest the rest
# (bench reattribution).
REATTRIBUTION_REST_RATIO = float(os.environ.get("REATTRIBUTION_REST_RATIO", "1"))
INGEST_RETRY_BACKOFF_MAX = 20
# A worker takes up to this many other waiting batches with the one its task names, in one transaction: at
# steady state it finds none, under a backlog it catches up at the pipeline's bulk rate (docs/benchmarks.md).
INGEST_BATCH_COMPANIONS = int(os.environ.get("INGEST_BATCH_COMPANIONS", "49"))
INGEST_LOCK_TIMEOUT = os.environ.get("INGEST_LOCK_TIMEOUT", "10s")
# Raw readings older than this are dropped (whole chunks); rollups are kept.
TELEMETRY_RAW_RETENTION_DAYS = int(os.environ.get("TELEMETRY_RAW_RETENTION_DAYS", "90"))
# A reading more than this ahead of the time it is processed is refused (gateway clock); so is one older than
# the raw retention.
TELEMETRY_MAX_FUTURE = timedelta(minutes=int(os.environ.get("TELEMETRY_MAX_FUTURE_MIN", "10")))
# Landed payloads of batches stored whole are deleted after this many days (telemetry/retention.py).
INGEST_BATCH_RETENTION_DAYS = int(os.environ.get("INGEST_BATCH_RETENTION_DAYS", "7"))

# The ingest endpoint's edge (telemetry/api.py). Per gateway token, at most INGEST_RATE_PER_TOKEN POSTs
# ("<count>/<s|min|hour>"; a gateway sends one every 5 s, more while it backfills), else 429. Its counters
# live in the "shared" cache, a Redis database beside the broker's, so the limit holds across web processes;
# short timeouts, because the limit fails open when that Redis is away (telemetry/throttling.py).
INGEST_RATE_PER_TOKEN = os.environ.get("INGEST_RATE_PER_TOKEN", "120/min")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {
        "BACKEND": "pms_site.cache.RedisCache",  # Django's, keeping its client
        "LOCATION": os.environ.get("SHARED_CACHE_URL", CELERY_BROKER_URL.rsplit("/", 1)[0] + "/1"),
        "KEY_PREFIX": "pms",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    },
}
# Trusted reverse proxies in front of gunicorn: the client address (a token's "last used from") is then the
# X-Forwarded-For entry the outermost one added; with none, REMOTE_ADDR.
REST_FRAMEWORK["NUM_PROXIES"] = int(os.environ.get("DJANGO_NUM_PROXIES", "0"))
# While the database is unreachable, pages and the API answer 503 with this Retry-After
# (pms_site/middleware.py).
DATABASE_UNAVAILABLE_RETRY_AFTER_S = int(os.environ.get("DATABASE_UNAVAILABLE_RETRY_AFTER_S", "10"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stdout"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# The database down: one line per outage (pms_site/middleware.py), not one per 503 answered.
LOGGING["filters"] = {
    "not_503": {
        "()": "django.utils.log.CallbackFilter",
        "callback": "ext://pms_site.log_filters.not_service_unavailable",
    }
}
LOGGING["loggers"]["django.request"] = {"filters": ["not_503"]}
