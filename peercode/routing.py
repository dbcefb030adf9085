"""WebSocket routes; each app adds its consumers here as it gains them.

The last route takes every path no other one serves, so that a handshake there is refused like
any other connection (an error frame, then close code 4404) instead of raising in the router.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.urls import re_path

from deltas.consumers import CLOSE_CODE_BASE, error_frame
from deltas.routing import websocket_urlpatterns as delta_routes
from peercode.errors import NotFound


class UnknownPath(AsyncJsonWebsocketConsumer):
    """A handshake to a path no stream is at: accepted only to say where the streams are."""

    async def connect(self) -> None:
        await self.accept()
        refusal = NotFound(
            f"No WebSocket stream at {self.scope['path']!r}. A project's deltas are at "
            "/ws/projects/<project slug>/.",
            code="unknown_path",
        )
        await self.send_json(error_frame(refusal))
        await self.close(code=CLOSE_CODE_BASE + refusal.http_status)


websocket_urlpatterns: list[Any] = [*delta_routes, re_path(r"", UnknownPath.as_asgi())]
