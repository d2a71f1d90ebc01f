"""Guanxi settings, driven by environment variables (see README "Configuration").

Nothing here reads application state at import time beyond the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("GUANXI_DATA_DIR", BASE_DIR.parent / "var")).resolve()


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _private_file(path: Path, content: str = "") -> Path:
    """Create `path` readable by its owner only (0600) unless it exists; never world-readable for a
    moment. The data dir holds password hashes, customer data and keys: SQLite files, the queue and
    the generated keys all start here (SQLite gives its -wal/-shm files the database file's mode)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    return path


def _generated_key(name: str, make) -> str:
    """A random key generated once into the data dir (0600): the embedded default, so sessions and
    encrypted values survive restarts without a secret ever being committed."""
    path = DATA_DIR / name
    if not path.exists():
        _private_file(path, make())
    return path.read_text().strip()


def _secret_key() -> str:
    key = os.environ.get("GUANXI_SECRET_KEY")
    if key:
        return key
    import secrets

    return _generated_key("secret_key", lambda: secrets.token_urlsafe(50))


SECRET_KEY = _secret_key()


def _encryption_keys() -> list[str]:
    """Keys that encrypt secrets at rest (guanxi/core/crypto.py): GUANXI_ENCRYPTION_KEY, one or more
    Fernet keys separated by commas (the first encrypts; the others still decrypt, for rotation).
    Embedded default: a key generated once into the data dir (0600). With several machines, or to
    keep backups of the database apart from the key, set it in the environment."""
    keys = os.environ.get("GUANXI_ENCRYPTION_KEY", "")
    if keys.strip():
        return [k.strip() for k in keys.split(",") if k.strip()]
    import base64
    import secrets

    return [
        _generated_key("encryption_key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    ]


ENCRYPTION_KEYS = _encryption_keys()
DEBUG = _env_bool("GUANXI_DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("GUANXI_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("GUANXI_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "huey.contrib.djhuey",
    "ninja",
    "guanxi.core",
    "guanxi.customization",
    "guanxi.customers",
    "guanxi.sales",
    "guanxi.engagement",
    "guanxi.approvals",
    "guanxi.messaging",
    "guanxi.webhooks",
    "guanxi.automation",
    "guanxi.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "guanxi.core.middleware.RequestIdMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "guanxi.core.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "guanxi.urls"
WSGI_APPLICATION = "guanxi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "guanxi.web.context_processors.navigation",
                "guanxi.messaging.context_processors.unread",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DEFAULT_SQLITE_PATH = DATA_DIR / "guanxi.sqlite3"
DATABASE_URL = os.environ.get("GUANXI_DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("GUANXI_DB_CONN_MAX_AGE", "60")))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        # WAL + busy timeout + IMMEDIATE write transactions: concurrent web and
        # worker processes on one file without "database is locked" surprises.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=20000; PRAGMA cache_size=-65536;"
        ),
    }
    if _db["NAME"] != ":memory:":
        _private_file(Path(_db["NAME"]))
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "today"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Queue (Huey) ---------------------------------------------------------------
QUEUE_URL = os.environ.get("GUANXI_QUEUE_URL") or f"sqlite:///{DATA_DIR / 'queue.sqlite3'}"


def _huey_config(url: str) -> dict:
    common = {"name": os.environ.get("GUANXI_QUEUE_NAME", "guanxi"), "immediate": False, "utc": True}
    if url.startswith(("redis://", "rediss://")):
        return {**common, "huey_class": "huey.RedisHuey", "url": url, "connection": {"url": url}}
    if url.startswith("sqlite:///"):
        path = _private_file(Path(url.removeprefix("sqlite:///")))
        return {**common, "huey_class": "huey.SqliteHuey", "filename": str(path)}
    raise ValueError("GUANXI_QUEUE_URL must start with sqlite:/// or redis://")


HUEY = _huey_config(QUEUE_URL)
HUEY["results"] = False  # nothing reads task results; storing them would only grow the queue store
HUEY["consumer"] = {"workers": int(os.environ.get("GUANXI_WORKERS", "2")), "worker_type": "thread"}
HUEY.pop("url", None)

# --- Domain events (core/events.py) ---------------------------------------------
# A failing subscriber is retried with exponential back-off (base, 2x base, 4x base ... capped) and
# becomes a dead letter after this many attempts; administrators retry dead letters from settings.
EVENT_MAX_ATTEMPTS = int(os.environ.get("GUANXI_EVENT_MAX_ATTEMPTS", "5"))
EVENT_RETRY_BASE_SECONDS = int(os.environ.get("GUANXI_EVENT_RETRY_BASE_SECONDS", "30"))
EVENT_RETRY_MAX_SECONDS = int(os.environ.get("GUANXI_EVENT_RETRY_MAX_SECONDS", str(6 * 3600)))
# Outgoing webhooks: first retry after the base (then doubling) until the retry window is over;
# seconds, fractions allowed (tests use ~1 s).
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("GUANXI_WEBHOOK_RETRY_BASE_SECONDS", "30"))
WEBHOOK_RETRY_WINDOW_SECONDS = float(os.environ.get("GUANXI_WEBHOOK_RETRY_WINDOW_SECONDS", str(24 * 3600)))
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("GUANXI_WEBHOOK_TIMEOUT_SECONDS", "10"))
# Outgoing webhooks connect to public addresses only (no loopback, private, link-local or reserved
# address: a rule's webhook must not reach the server's own network). "1" allows them (a receiver on
# the company LAN, the test suite's loopback receivers).
WEBHOOK_ALLOW_PRIVATE_NETWORKS = os.environ.get("GUANXI_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "") == "1"
# Extra modules whose `@events.subscribe` handlers are registered at start-up by core's
# AppConfig.ready() (comma-separated dotted paths; empty by default). A test and extension hook: the
# worker-process tests (tests/core/test_event_bus_worker_process.py) give the real worker their
# subscribers with it. Their subscriber names must differ from the apps' (a name registered twice
# keeps the handler registered last).
EXTRA_SUBSCRIBER_MODULES = [
    module.strip()
    for module in os.environ.get("GUANXI_EXTRA_SUBSCRIBER_MODULES", "").split(",")
    if module.strip()
]

# --- i18n -----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("GUANXI_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security -------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # 2.5 MB: larger bodies get a clear 413

# --- Customer import --------------------------------------------------------------
# Every upload is read by the worker, streamed and staged in short transactions; these caps refuse
# files that would still take too long (rows) or unpack to too much XML (an .xlsx is a zip file).
GUANXI_IMPORT_MAX_ROWS = int(os.environ.get("GUANXI_IMPORT_MAX_ROWS", "1000000"))
GUANXI_IMPORT_MAX_XLSX_BYTES = int(os.environ.get("GUANXI_IMPORT_MAX_XLSX_BYTES", str(200 * 2**20)))

# --- Email ----------------------------------------------------------------------
EMAIL_HOST = os.environ.get("GUANXI_EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("GUANXI_EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("GUANXI_EMAIL_FROM", "guanxi@localhost")
EMAIL_BACKEND = os.environ.get("GUANXI_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST_USER = os.environ.get("GUANXI_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("GUANXI_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("GUANXI_EMAIL_TLS", False)
EMAIL_USE_SSL = _env_bool("GUANXI_EMAIL_SSL", False)  # e.g. port 465 at QQ / Aliyun enterprise mail
EMAIL_TIMEOUT = int(os.environ.get("GUANXI_EMAIL_TIMEOUT", "10"))
# SMS provider class (see guanxi.messaging.channels.SmsBackend); the default only logs.
GUANXI_SMS_BACKEND = os.environ.get("GUANXI_SMS_BACKEND", "guanxi.messaging.channels.LogSmsBackend")
# Absolute base URL used in links inside emails, e.g. https://crm.example.com
GUANXI_SITE_URL = os.environ.get("GUANXI_SITE_URL", "")

# Console logging (guanxi/core/log.py): start-up, errors and one line per finished worker job;
# GUANXI_LOG_VERBOSE=1 (`guanxi up --verbose`) shows more. The huey logger has its own handler and
# does not propagate, so Huey's consumer adds none of its own and no line is printed twice.
_LOG_VERBOSE = os.environ.get("GUANXI_LOG_VERBOSE", "").lower() in {"1", "true", "yes"}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "console": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s", "datefmt": "%H:%M:%S"}
    },
    "filters": {"console": {"()": "guanxi.core.log.ConsoleFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "console", "filters": ["console"]},
    },
    "loggers": {"huey": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    "root": {
        "handlers": ["console"],
        "level": os.environ.get("GUANXI_LOG_LEVEL", "INFO" if _LOG_VERBOSE else "WARNING"),
    },
}

# Page size of list pages and list APIs.
GUANXI_PAGE_SIZE = 25
