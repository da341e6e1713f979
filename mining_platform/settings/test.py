"""Test settings: the real PostgreSQL and Redis, with what only tests need changed."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
WHITENOISE_USE_FINDERS = True  # pages under test load their assets without collectstatic
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; never in production
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
# Tests use Redis database 15 so a running demo on database 0 is never touched.
REDIS_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
# One key prefix per pytest-xdist worker; an autouse fixture deletes the worker's keys after each test.
REDIS_KEY_PREFIX = f"mp-test-{env.str('PYTEST_XDIST_WORKER', default='main')}:"
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CACHES = {"default": {**CACHES["default"], "LOCATION": REDIS_URL, "KEY_PREFIX": REDIS_KEY_PREFIX.rstrip(":")}}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_KEY_PREFIX}asgi"},
    }
}
# The role walk sends many requests from one address; its throttles are tested on their own.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"api_key": "10000/min", "anon": "10000/min", "user": "10000/min"}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
