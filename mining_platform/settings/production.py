"""Production settings: base.py, tightened. Refuses to start when a setting is unsafe."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import (
    ALLOWED_HOSTS,
    DEBUG,
    DEV_SECRET_KEY,
    EMAIL_BACKEND_FROM_ENV,
    MARKET_DATA_SOURCE_FROM_ENV,
    PRODUCTION_HSTS_SECONDS,
    PRODUCTION_SSL_REDIRECT,
    SECRET_KEY,
)


def _refuse(reason: str) -> None:
    raise ImproperlyConfigured(f"Production settings refused: {reason}")


if DEBUG:
    _refuse("DJANGO_DEBUG is on; set DJANGO_DEBUG=false.")
if not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
    _refuse("DJANGO_SECRET_KEY is unset, the development default, or shorter than 50 characters.")
if not ALLOWED_HOSTS:
    _refuse("DJANGO_ALLOWED_HOSTS is empty; list the host names the site answers to.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = PRODUCTION_SSL_REDIRECT
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = PRODUCTION_HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
EMAIL_BACKEND = EMAIL_BACKEND_FROM_ENV or "django.core.mail.backends.smtp.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
# Live collectors are the production default; MARKET_DATA_SOURCE=replay still forces the shipped history.
MARKET_DATA_SOURCE = MARKET_DATA_SOURCE_FROM_ENV or "live"
