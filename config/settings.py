"""Django settings: one module, driven by the environment (see the README's table)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def parse_database_url(url: str) -> dict[str, Any]:
    """Turn ``sqlite:///path`` or ``postgres://user:pass@host:port/name?opt=v`` into a DATABASES entry.

    A relative sqlite path is taken from the project root; ``sqlite:////abs`` is absolute.
    Query parameters become ``OPTIONS`` (e.g. ``sslmode=require``).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path)[1:]  # drop the separator after the (empty) host
        if not path or path == ":memory:":
            return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(BASE_DIR / path)}
    if scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": _pg_host(parts.netloc, parts.hostname),
            "PORT": str(parts.port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
        }
    raise ImproperlyConfigured(f"DATABASE_URL: unsupported scheme {scheme!r} (use sqlite:// or postgres://)")


def _pg_host(netloc: str, hostname: str | None) -> str:
    # A percent-encoded host is a unix socket directory (postgres://%2Frun%2Fpostgresql/db); keep its case.
    raw = netloc.rpartition("@")[2]
    if "%2f" in raw.lower():
        return unquote(raw)
    return hostname or ""


DEBUG = env_bool("DJANGO_DEBUG")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(50))'`)"
            " or set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"  # noqa: S105 - debug only

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Its widget templates, for the project-wide form renderer (FORM_RENDERER below).
    "django.forms",
    "django_htmx",
    # Named partials inside page templates ({% partialdef %}); Django 6.0 has them built in.
    "template_partials",
    "django_celery_beat",
    "auditlog",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    # Ours, a strict stack from the bottom up: each imports only the ones before it (tests/test_layers.py).
    "core",
    "hosts",
    "vulns",
    "scans",
    "notifications",
    "schedules",
    "reports",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files from gunicorn in production (docker-compose web); no proxy needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # 400 for a NUL byte in any parameter, before anything reads them (PostgreSQL refuses NUL in text).
    "core.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.IdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Who and from where, on every audit entry a request makes (core.audit).
    "core.audit.AuditMiddleware",
    # Last, as django-axes asks: locks out repeated failed logins.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out account or address is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, reading an account's permissions in one query (every page checks one).
    "core.backends.PermissionBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# One field layout for every form (label above the field, the error next to it): templates/forms/field.html.
FORM_RENDERER = "core.forms.FormRenderer"

DATABASES = {"default": parse_database_url(os.environ.get("DATABASE_URL", "sqlite:///var/db.sqlite3"))}
if DATABASES["default"]["ENGINE"].endswith("sqlite3") and DATABASES["default"]["NAME"] != ":memory:":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "scans:overview"

# -- HTTPS, cookies and the proxy in front (docs/deployment.md has the production values) -------------------
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Lax, not Strict: a link to a host page from a chat or a ticket must arrive logged in.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Idle timeout: the session ends this many seconds after the last request. core.middleware renews it at most
# every DOCKERBENCH_SESSION_RENEW_SECONDS, so a page is not one database write more for it.
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_IDLE_TIMEOUT", 8 * 3600)
DOCKERBENCH_SESSION_RENEW_SECONDS = min(300, max(1, SESSION_COOKIE_AGE // 10))
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Behind a TLS-terminating proxy that sets this header (nginx: proxy_set_header X-Forwarded-Proto $scheme),
# e.g. DJANGO_SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto. Only set it when the proxy always sets (or strips)
# the header: a client could send it itself otherwise.
_proxy_header = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
# Origins a form may be posted from, scheme included: https://dash.example.com (behind a proxy, the public one).
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# Our page for a refused form, with Django's reason ("Origin checking failed ..."): it says what to fix.
CSRF_FAILURE_VIEW = "core.views.csrf_failure"
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT")
# The health check answers plain HTTP too, for a load balancer probing the backend directly.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD")
# How many reverse proxies in front append to X-Forwarded-For; 0: the socket's peer is the client. Used for
# the audit trail's addresses and the login lockout (core.audit.client_ip).
DOCKERBENCH_TRUSTED_PROXIES = env_int("DOCKERBENCH_TRUSTED_PROXIES", 0)

# -- Content-Security-Policy (django-csp): our own files only, no inline script or style ------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# -- Logins: lockout after repeated failures (django-axes) ---------------------------------------------------
AXES_FAILURE_LIMIT = env_int("DOCKERBENCH_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DOCKERBENCH_LOGIN_LOCKOUT_MINUTES", 15))
# The account is locked (from anywhere) and the address is locked (for any account).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# Every attempt while locked, even with the right password, starts the cool-off again (axes' default, stated
# here because docs/deployment.md says so): whoever keeps guessing stays locked out.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "core.audit.client_ip"
AXES_VERBOSE = False

# -- Mail: the password reset pages exist only when mail can be sent -----------------------------------------
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_EMAIL_FROM", "dockerbench@localhost")
DOCKERBENCH_PASSWORD_RESET = bool(EMAIL_HOST)

# -- The audit trail (django-auditlog) -----------------------------------------------------------------------
# A masked field (credentials, password hashes) shows as "(secret set)" or "(empty)", never any of its text.
AUDITLOG_MASK_CALLABLE = "core.audit.hide_secret"

# Celery (read by config/celery.py with namespace "CELERY").
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # state lives on Scan rows, not in a result backend
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Scans go to a queue by who asked (scans.services.scan_queue); housekeeping stays on Celery's default queue
# ("celery"). Workers read all three; one more reads only the first, so a "Scan now" never waits behind a night's
# scans (docs/deployment.md).
DOCKERBENCH_INTERACTIVE_QUEUE = "interactive"
DOCKERBENCH_SCHEDULED_QUEUE = "scheduled"
# A scheduled scan whose host does not answer is queued again this many times, after this many seconds, doubled
# each time (60, 120, 240: seven minutes), without holding a worker slot; then it fails and the host is unreachable.
DOCKERBENCH_UNREACHABLE_RETRIES = env_int("DOCKERBENCH_UNREACHABLE_RETRIES", 3)
DOCKERBENCH_UNREACHABLE_BACKOFF_SECONDS = env_int("DOCKERBENCH_UNREACHABLE_BACKOFF_SECONDS", 60)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    # No server needed: messages are files under var/celery/, shared by a worker and beat on this machine.
    CELERY_BROKER_DIR = Path(os.environ.get("DOCKERBENCH_BROKER_DIR") or VAR_DIR / "celery")
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    # django-axes logs every login at INFO; the audit trail has them already (with who and from where).
    # WeasyPrint logs every step of a PDF report, and each rule of app.css it does not know (screen-only ones);
    # reports.documents logs the URLs it refused itself.
    "loggers": {"axes": {"level": "WARNING"}, "weasyprint": {"level": "ERROR"}},
}

# dockerbench itself.
# Fernet key(s) for host credentials at rest, comma separated, newest first (see hosts/crypto.py).
DOCKERBENCH_ENCRYPTION_KEY = os.environ.get("DOCKERBENCH_ENCRYPTION_KEY", "")
# Image for the probe container that reads host facts through the Docker API.
DOCKERBENCH_PROBE_IMAGE = os.environ.get("DOCKERBENCH_PROBE_IMAGE", "busybox:stable")
# Raw snapshots are kept this many days for re-evaluation; summaries and results are kept.
DOCKERBENCH_SNAPSHOT_RETENTION_DAYS = env_int("DOCKERBENCH_SNAPSHOT_RETENTION_DAYS", 30)
# Scans older than this many days go (each host's latest and newest stay; findings, episodes and the fleet's
# daily totals are kept): scans.retention. 0 keeps every scan; at least 7 days are kept.
DOCKERBENCH_SCAN_RETENTION_DAYS = env_int("DOCKERBENCH_SCAN_RETENTION_DAYS", 400)
# Audit entries (django-auditlog) older than this many days go; 0 keeps them all.
DOCKERBENCH_AUDIT_RETENTION_DAYS = env_int("DOCKERBENCH_AUDIT_RETENTION_DAYS", 365)
# Pruning deletes at most this many rows per transaction (core.retention): short row locks, never a table lock.
DOCKERBENCH_PRUNE_BATCH_SIZE = env_int("DOCKERBENCH_PRUNE_BATCH_SIZE", 1000)
# Where people open the dashboard (https://dockerbench.example.com): notifications link to its pages. Unset: no links.
DOCKERBENCH_BASE_URL = os.environ.get("DOCKERBENCH_BASE_URL", "").strip().rstrip("/")
if DOCKERBENCH_BASE_URL and not re.match(r"^https?://[^/\s]+(/\S*)?$", DOCKERBENCH_BASE_URL):
    raise ImproperlyConfigured(
        "DOCKERBENCH_BASE_URL must be an http:// or https:// URL: https://dockerbench.example.com"
    )
# A scan still running after this many seconds is stopped by its worker (Celery's time limit).
DOCKERBENCH_SCAN_TIME_LIMIT = env_int("DOCKERBENCH_SCAN_TIME_LIMIT", 900)
# A running scan refreshes its heartbeat this often; one silent for the timeout lost its worker (it died).
DOCKERBENCH_HEARTBEAT_SECONDS = float(os.environ.get("DOCKERBENCH_HEARTBEAT_SECONDS", "10"))
DOCKERBENCH_HEARTBEAT_TIMEOUT_SECONDS = env_int("DOCKERBENCH_HEARTBEAT_TIMEOUT_SECONDS", 60)
# A queued scan no worker has taken after this many seconds has its message sent again (it may have been lost).
DOCKERBENCH_QUEUED_RESEND_SECONDS = env_int("DOCKERBENCH_QUEUED_RESEND_SECONDS", 300)
# The most rows (hosts, findings, list entries) a PDF report may lay out; a larger one says so and how to narrow it.
DOCKERBENCH_REPORT_MAX_ROWS = env_int("DOCKERBENCH_REPORT_MAX_ROWS", 1200)
# The largest snapshot a host may push (python -m dockerbench --push), in bytes, as sent and once decompressed.
DOCKERBENCH_PUSH_MAX_BYTES = env_int("DOCKERBENCH_PUSH_MAX_BYTES", 32 * 1024 * 1024)
# Pushes one token may make per hour; more are refused (429) until the hour has passed.
DOCKERBENCH_PUSH_RATE_PER_HOUR = env_int("DOCKERBENCH_PUSH_RATE_PER_HOUR", 30)
# Where a worker writes a connection's decrypted credentials for its duration; default /dev/shm (memory).
DOCKERBENCH_CREDENTIALS_DIR = os.environ.get("DOCKERBENCH_CREDENTIALS_DIR", "")

# -- Image vulnerabilities: optional live lookups after each scan, for image digests without a report -------------
# A Clair v4 (matcher API) base URL, e.g. http://clair.internal:6060; unset: no Clair lookups.
DOCKERBENCH_CLAIR_URL = os.environ.get("DOCKERBENCH_CLAIR_URL", "").strip().rstrip("/")
# A Trivy server (trivy server --listen ...); used only where a `trivy` binary is on the worker's PATH.
DOCKERBENCH_TRIVY_SERVER = os.environ.get("DOCKERBENCH_TRIVY_SERVER", "").strip()
# A Quay (Red Hat Quay, quay.io) base URL, e.g. https://quay.io; unset: no Quay lookups. Asked only about
# RepoDigests whose registry is this URL's host. The token: an OAuth access token with repo:read (optional
# for public repositories).
DOCKERBENCH_QUAY_URL = os.environ.get("DOCKERBENCH_QUAY_URL", "").strip().rstrip("/")
DOCKERBENCH_QUAY_TOKEN = os.environ.get("DOCKERBENCH_QUAY_TOKEN", "").strip()
for _name in ("DOCKERBENCH_CLAIR_URL", "DOCKERBENCH_TRIVY_SERVER", "DOCKERBENCH_QUAY_URL"):
    _value = globals()[_name]
    if _value and (urlsplit(_value).scheme not in ("http", "https") or not urlsplit(_value).hostname):
        raise ImproperlyConfigured(f"{_name} must be an http:// or https:// URL, not {_value!r}")
# Seconds a Clair or Quay request may take (a Trivy scan gets ten times as long), and minutes before a digest whose
# lookup failed (server down, not indexed) is asked again.
DOCKERBENCH_LOOKUP_TIMEOUT = env_int("DOCKERBENCH_LOOKUP_TIMEOUT", 10)
DOCKERBENCH_LOOKUP_RETRY_MINUTES = env_int("DOCKERBENCH_LOOKUP_RETRY_MINUTES", 360)

# -- Reports: PDFs on Django's storage under MEDIA_ROOT. Never served as files: the download view checks access.
MEDIA_ROOT = Path(os.environ.get("DOCKERBENCH_MEDIA_ROOT") or VAR_DIR / "media")
# Stored reports older than this many days are deleted, and their files with them (beat, daily).
DOCKERBENCH_REPORT_RETENTION_DAYS = env_int("DOCKERBENCH_REPORT_RETENTION_DAYS", 90)
# A report still rendering after this many seconds is stopped and failed (Celery's soft time limit).
DOCKERBENCH_REPORT_TIME_LIMIT = env_int("DOCKERBENCH_REPORT_TIME_LIMIT", 600)

# -- Cache: shared by every process (API rate limits count across gunicorn workers) ---------------------------
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# -- The REST API (api/): DRF, its schema by drf-spectacular --------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.TokenAuthentication", "api.auth.SessionAuthentication"],
    # Every view names the Perm it needs per action (api.permissions); nothing is open by default.
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasPerm"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.PerToken"],
    "DEFAULT_THROTTLE_RATES": {
        "token": os.environ.get("DOCKERBENCH_API_RATE", "600/minute"),
        "anonymous": "60/minute",
    },
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "api.renderers.BrowsableAPI"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.handle",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "dockerbench API",
    "DESCRIPTION": "The fleet's hosts, scans, findings, waivers, reports and image vulnerabilities.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ScanStatusEnum": "scans.models.Scan.Status",
        "VerdictEnum": "scans.models.Status",
        "ReportStatusEnum": "reports.models.Report.Status",
    },
    "SECURITY": [{"tokenAuth": []}, {"cookieAuth": []}],
}
# API tokens may run at most this many days; a token's own expiry is its owner's choice within it.
DOCKERBENCH_API_TOKEN_MAX_DAYS = env_int("DOCKERBENCH_API_TOKEN_MAX_DAYS", 365)
