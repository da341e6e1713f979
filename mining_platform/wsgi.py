"""WSGI entry point (management and plain HTTP servers; the site itself runs on ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mining_platform.settings.base")

application = get_wsgi_application()
