"""The platform websocket at /ws/: authenticated connections only, per-user notifications."""

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .realtime import user_group

# Application close codes (4000-4999): 4401 mirrors HTTP 401.
CLOSE_UNAUTHENTICATED = 4401


class PlatformConsumer(AsyncJsonWebsocketConsumer):
    """Accepts signed-in users and API keys; answers pings and relays the user's notifications."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "core.welcome", "payload": {"user_id": user.pk, "role": user.role}})

    async def disconnect(self, code: int) -> None:
        group = getattr(self, "group", None)
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "core.pong", "payload": {}})
        else:
            await self.send_json(
                {"type": "core.error", "payload": {"code": "unknown_message", "message": 'Send {"type": "ping"}.'}}
            )

    async def core_notify(self, event: dict[str, Any]) -> None:
        """Relays a `core.notify` group message to the browser."""
        await self.send_json({"type": "core.notify", "payload": event.get("payload", {})})
