"""
Django settings for myapp.

Every service is attached through an environment variable, as a twelve-factor app:
the database through DEFAULT_DATABASE_DSN, media storage through DEFAULT_STORAGE_DSN.
With nothing set, the project runs on embedded defaults kept under data/.
The readers (get_value, get_boolean...) turn a mistaken value into a one-line error.

https://docs.djangoproject.com/en/5.2/ref/settings/
"""

from datetime import timedelta
from pathlib import Path

from django_storage_url import register_storage_class

from myapp.configuration import database, storages
from myapp.configuration.environment import (
    ConfigurationError,
    get_boolean,
    get_hosts,
    get_integer,
    get_secret_key,
    get_size,
    get_value,
)

# Build paths inside the project like this: BASE_DIR / 'subdir'.
BASE_DIR = Path(__file__).resolve().parent.parent

# Where the embedded defaults keep their data; Docker mounts ./data here as /data.
DATA_DIR = BASE_DIR / "data"


# Only an explicit true value turns DEBUG on: a deployment that forgets the variable
# must never show debug pages to the world.
DEBUG = get_boolean("DJANGO_DEBUG", default=False)

# With DEBUG off the key must be set (check --deploy says whether it is strong enough).
# In DEBUG, unset, a key that is public: never one for production.
SECRET_KEY = get_secret_key(
    "SECRET_KEY", development_key="django-insecure-local-development-only", required=not DEBUG
)

# The platform sets DOMAIN, plus comma-separated DOMAIN_ALIASES and DOMAIN_REDIRECTS.
ALLOWED_HOSTS = get_hosts("DOMAIN") + get_hosts("DOMAIN_ALIASES") + get_hosts("DOMAIN_REDIRECTS")
if DEBUG:
    ALLOWED_HOSTS += ["localhost", "127.0.0.1", "[::1]"]


# Application definition

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so that runserver leaves static files to WhiteNoise too.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Login attempts limited (the production section below says how).
    "axes",
    "file_lifecycle",
    "uploader",
    "transfer",
]

MIDDLEWARE = [
    # First: the platform's probes get an answer whatever their Host header or scheme.
    "myapp.serving.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before any middleware reads the request's body (myapp/serving/large_bodies.py).
    "myapp.serving.large_bodies.SignInForLargeBodiesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a refused login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "myapp.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "myapp.wsgi.application"


# Database
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases

# The tutorial's variable (the platform sets DATABASE_URL too, read when this one is not),
# checked by myapp/configuration/database.py; unset, an embedded SQLite database.
DEFAULT_DATABASE_DSN = database.get_dsn(default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
# Beyond the tutorial's dj_database_url.parse(): persistent connections, checked before reuse,
# and a limit on how long a connection may wait for PostgreSQL (database.py says why).
DATABASES = {"default": database.settings_from(DEFAULT_DATABASE_DSN)}


# Password validation
# https://docs.djangoproject.com/en/5.2/ref/settings/#auth-password-validators

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


# Internationalization
# https://docs.djangoproject.com/en/5.2/topics/i18n/

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True


# Static files (CSS, JavaScript, Images), collected at build time and served by WhiteNoise
# https://docs.djangoproject.com/en/5.2/howto/static-files/

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"


# Media files (uploads), stored where DEFAULT_STORAGE_DSN says: a local folder such as
# file:///data/media/?url=%2Fmedia%2F, or a bucket such as
# s3://KEY:SECRET@BUCKET.s3.REGION.amazonaws.com/?auth=s3v4
# https://github.com/divio/django-storage-url

DEFAULT_STORAGE_DSN = get_value(
    "DEFAULT_STORAGE_DSN", default=(DATA_DIR / "media").as_uri() + "/?url=%2Fmedia%2F"
)
# A local folder's DSN gives the folder and its URL (urls.py serves them in DEBUG); a bucket
# serves its own URLs, and both are empty. The DSN is checked here, as the settings load.
# The tutorial's two settings, each on a line of its own.
MEDIA_ROOT = storages.media_root(DEFAULT_STORAGE_DSN)
MEDIA_URL = storages.media_url(DEFAULT_STORAGE_DSN)

# The tutorial's DefaultStorageClass = dsn_configured_storage_class("DEFAULT_STORAGE_DSN") and
# DEFAULT_FILE_STORAGE, and its STATICFILES_STORAGE, are Django 4.2+'s STORAGES. The library
# picks the storage class by the DSN's scheme: the project's own never overwrite a file and
# know more of the DSN's options (myapp/configuration/storages.py).
register_storage_class("file", "myapp.configuration.storages.FileSystemStorage")
register_storage_class("s3", "myapp.configuration.storages.S3Storage")

STORAGES = {
    "default": {
        "BACKEND": "django_storage_url.dsn_configured_storage",
        "OPTIONS": {"setting_name": "DEFAULT_STORAGE_DSN"},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
    },
}

# The largest file the uploader takes, e.g. UPLOAD_MAX_SIZE=100MB or 1.5GB or 1048576.
UPLOAD_MAX_SIZE = get_size("UPLOAD_MAX_SIZE", default=100 * 10**6)
# Files over this go to a temporary file as they arrive: Django's 2.5 MB let each upload
# thread hold its whole file in memory (docs/uploads-and-failures.md, "Resources bounded").
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024


# Default primary key field type
# https://docs.djangoproject.com/en/5.2/ref/settings/#default-auto-field

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# Production hardening, beyond the tutorial: what `manage.py check --deploy` asks for.
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/

# TLS ends at the platform's load balancer, which says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Plain HTTP is redirected to HTTPS (not /healthz nor /readyz: myapp/serving/health.py
# answers first). Off in DEBUG, which `make run` serves over plain HTTP.
SECURE_SSL_REDIRECT = get_boolean("SECURE_SSL_REDIRECT", default=not DEBUG)

# HSTS for a year, subdomains and preload consent included (set 0 until every subdomain serves
# HTTPS; being in browsers' preload lists needs https://hstspreload.org/, and leaving takes months).
SECURE_HSTS_SECONDS = get_integer("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True

# Cookies over HTTPS only, and __Secure- names so that browsers refuse them over plain HTTP.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_NAME = "sessionid" if DEBUG else "__Secure-sessionid"
CSRF_COOKIE_NAME = "csrftoken" if DEBUG else "__Secure-csrftoken"

# Django's defaults, stated because check --deploy relies on them: no MIME sniffing, no full
# URLs in Referer headers to other sites, no framing (clickjacking).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Login attempts, limited per client and per account by django-axes (its app and middleware
# are in INSTALLED_APPS and MIDDLEWARE above).
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
# After AXES_FAILURE_LIMIT wrong passwords in a row, from one client (any account) or for one
# account (from any client), logging in is refused for AXES_COOLOFF_TIME, the right password
# too, with a page that says how to get back in: wait, or an administrator runs
# `python manage.py axes_reset_username NAME` (axes_reset_ip ADDRESS for a client).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
# No banner at every start (a configuration mistake stays one line); failures and lockouts are
# still logged, with the account and the client.
AXES_VERBOSE = False
AXES_COOLOFF_MESSAGE = (
    "Too many failed logins from here or for this account: logging in is locked for "
    f"{AXES_COOLOFF_TIME.seconds // 60} minutes. Try again then, or ask an administrator to "
    "unlock your account with: python manage.py axes_reset_username YOUR_USER_NAME"
)
# Behind the platform's router every request comes from the router's address: the client's is
# the last one in X-Forwarded-For, which the router appends. Without the router (make run),
# a client can choose that address itself: then only the limit per account holds.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
AXES_IPWARE_PROXY_ORDER = "right-most"

# Error pages and reports hide settings that hold secrets, DSNs too
# (myapp/configuration/reporting.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "myapp.configuration.reporting.ExceptionReporterFilter"


# Logging: everything to stderr, where the platform (and Docker) collect it. Errors come with
# their traceback: a 500's from django.request, with the request's path; a storage failure's
# from the uploader, with the file's name and the error's type. No log line holds a secret.
# DJANGO_LOG_LEVEL: DEBUG, INFO (the default), WARNING, ERROR or CRITICAL.

LOG_LEVEL = get_value("DJANGO_LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ConfigurationError(
        f"DJANGO_LOG_LEVEL={LOG_LEVEL.lower()!r} is not a log level: use DEBUG, INFO, WARNING, "
        "ERROR or CRITICAL, e.g. DJANGO_LOG_LEVEL=INFO"
    )

LOGGING = {
    "version": 1,
    # Uvicorn's own loggers (its access lines) keep working.
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        # Instead of Django's defaults: the console in DEBUG only, and mail to no ADMINS.
        "django": {"handlers": [], "level": LOG_LEVEL},
    },
}
