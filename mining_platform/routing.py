"""Websocket routes of the whole platform; each app adds its own under /ws/<app>/."""

from django.urls import path

from mining_platform.core.consumers import PlatformConsumer

websocket_urlpatterns = [
    path("ws/", PlatformConsumer.as_asgi()),
]
