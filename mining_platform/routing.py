"""Websocket routes of the whole platform; each app adds its own under /ws/<app>/."""

from django.urls import path

from hosting.live.consumers import LiveConsumer
from mining_platform.core.consumers import PlatformConsumer

websocket_urlpatterns = [
    path("ws/", PlatformConsumer.as_asgi()),
    path("ws/hosting/live/", LiveConsumer.as_asgi()),
]
