"""ASGI entry point, served by Daphne: Django and the MCP endpoint over HTTP, Channels
consumers over WebSocket."""

from __future__ import annotations

import gc
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peercode.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.conf import settings  # noqa: E402

from locks.sweeper import ensure_sweeper  # noqa: E402
from peercode.mcp.transport import with_mcp  # noqa: E402
from peercode.routing import websocket_urlpatterns  # noqa: E402


class BrowserOriginValidator(OriginValidator):
    """Refuses WebSockets from browser pages outside ALLOWED_HOSTS. A client that sends no
    Origin (an agent's WebSocket library) is not a browser page and cannot be driven by one, so
    it is let through; it still has to authenticate."""

    def valid_origin(self, parsed_origin: object) -> bool:
        if parsed_origin is None:
            return True
        return bool(super().valid_origin(parsed_origin))


def with_lock_sweeper(app: Any) -> Any:
    """Start the periodic lock and push-lease sweep on the server's event loop with its first
    connection (Daphne sends no lifespan event to start it with)."""

    async def sweeping_app(scope: Any, receive: Any, send: Any) -> None:
        ensure_sweeper()
        await app(scope, receive, send)

    return sweeping_app


application = with_lock_sweeper(
    ProtocolTypeRouter(
        {
            "http": with_mcp(django_asgi_app),
            "websocket": BrowserOriginValidator(
                SessionMiddlewareStack(URLRouter(websocket_urlpatterns)), settings.ALLOWED_HOSTS
            ),
        }
    )
)

# Everything imported so far lives as long as the process: move it out of the garbage
# collector's sight, so that full collections stay short and do not stall live delivery.
gc.freeze()
