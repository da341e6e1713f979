"""ASGI entry point: HTTP through Django (anonymous quotes answered ahead of it), websockets under /ws/ through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mining_platform.settings.base")

# Django must be set up before the routing imports consumers and models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from calculator.asgi_quote import QuoteFastPath  # noqa: E402
from mining_platform.core.realtime_auth import WebsocketAuthMiddleware, browser_origin_validator  # noqa: E402
from mining_platform.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": QuoteFastPath(django_asgi_app),
        "websocket": browser_origin_validator(WebsocketAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
