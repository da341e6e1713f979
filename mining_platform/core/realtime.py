"""Channel-layer group names and publish helpers shared by every app."""

from typing import TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


class PlatformMessage(TypedDict):
    type: str
    payload: dict[str, object]


def user_group(user_id: int) -> str:
    """The group every websocket of one user joins (notifications meant for that person)."""
    return f"core.user.{user_id}"


def group_send_on_commit(*, group: str, message: PlatformMessage) -> None:
    """Push to a group once the current transaction commits; nothing leaves on rollback."""
    layer = get_channel_layer()
    if layer is None:
        return
    transaction.on_commit(lambda: async_to_sync(layer.group_send)(group, dict(message)))
