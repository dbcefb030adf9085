"""WebSocket routes; each app adds its consumers here as it gains them."""

from __future__ import annotations

from typing import Any

from deltas.routing import websocket_urlpatterns as delta_routes

websocket_urlpatterns: list[Any] = [*delta_routes]
