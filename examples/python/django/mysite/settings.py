"""Settings of the Django example: a production configuration (DEBUG off),
as it runs in the sandbox. See docs/python.md for what a Django app can and
cannot use there."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Settings are read once, when `python build` imports the project: the key
# is part of the component. A real deployment puts its own key in a file the
# build reads (kept out of version control), e.g. secret_key.txt beside
# manage.py.
_KEY_FILE = BASE_DIR / "secret_key.txt"
SECRET_KEY = (
    _KEY_FILE.read_text().strip()
    if _KEY_FILE.is_file()
    else os.environ.get("DJANGO_SECRET_KEY", "example-only-change-me-" + "x" * 32)
)
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "mysite",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mysite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csrf",
            ],
        },
    },
]

WSGI_APPLICATION = "mysite.wsgi.application"

# Each instance has its own in-memory database: nothing here may rely on
# tables surviving a request (sessions live in signed cookies).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
    }
}

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("fr", "French"), ("de", "German")]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# `python manage.py collectstatic` copies the apps' static files here; the
# gateway serves this directory at /static/ (gateway.toml), not Django.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
