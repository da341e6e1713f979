"""The mining operations platform: settings, URLs, ASGI/WSGI entry points, Celery and the shared core."""

__version__ = "0.1.0"

# Importing the Celery app here makes @shared_task bind to it whenever Django starts.
from .celery import app as celery_app

__all__ = ["__version__", "celery_app"]
