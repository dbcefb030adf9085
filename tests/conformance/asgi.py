"""Test-only ASGI entry point for the MCP conformance run (``.ci/mcp-conformance``).

The conformance CLI's ``server`` command cannot send custom headers, and PeerCode's /mcp
answers 401 without an agent token. This wraps the real application and gives each HTTP
request that carries no ``Authorization`` header ``Bearer $PEERCODE_CONFORMANCE_TOKEN``: the
token is a real agent token, still checked by the product's own authentication, so nothing in
PeerCode is weakened. Only that script serves this module; it is never deployed.
"""

from __future__ import annotations

import os

from peercode.asgi import application as peercode_application
from peercode.mcp.transport import Receive, Scope, Send

TOKEN_VARIABLE = "PEERCODE_CONFORMANCE_TOKEN"

token = os.environ.get(TOKEN_VARIABLE, "").strip()
if not token:
    raise RuntimeError(
        f"{TOKEN_VARIABLE} is not set. Create an agent with 'python manage.py agent create "
        f"--project demo NAME' and export its token as {TOKEN_VARIABLE} before serving this app."
    )
AUTHORIZATION = (b"authorization", f"Bearer {token}".encode())


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http" and not any(
        name.lower() == b"authorization" for name, _ in scope.get("headers") or []
    ):
        scope = {**scope, "headers": [*(scope.get("headers") or []), AUTHORIZATION]}
    await peercode_application(scope, receive, send)
