"""WSGI config for mysite: exposes the WSGI callable as `application`,
which is what `wasm-gateway python build mysite.wsgi:application` (and
gunicorn) take."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
