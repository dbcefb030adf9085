"""WebSocket routes; each app adds its consumers here as it gains them."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
