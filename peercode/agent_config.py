"""Ready-to-paste MCP client configurations for an agent token.

One place renders them, so the ``agent`` management command, the admin, the REST API and the
dashboard all show a human the same snippets when an agent is created or its token rotated.
Every client reaches the one Streamable HTTP endpoint, ``<PEERCODE_PUBLIC_URL>/mcp``, with
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings

from projects.models import ClientKind

# The name MCP clients file the server under (and prefix its tools with).
SERVER_NAME = "peercode"


@dataclass(frozen=True)
class ClientConfig:
    client_kind: str  # a ClientKind value
    title: str
    where: str  # where the snippet goes, so a human knows what to do with it
    snippet: str


# Title and destination of each snippet shown to a human, in this order. "other" is left out:
# its snippet is Cursor's, which most JSON-configured clients accept as it is.
_SHOWN: dict[str, tuple[str, str]] = {
    ClientKind.CLAUDE_CODE.value: ("Claude Code", "run this in your project's directory"),
    ClientKind.CURSOR.value: (
        "Cursor and other MCP clients configured in JSON",
        "merge into .cursor/mcp.json (or your client's mcpServers file)",
    ),
    ClientKind.CODEX.value: ("Codex", "append to ~/.codex/config.toml"),
    ClientKind.WINDSURF.value: ("Windsurf", "merge into ~/.codeium/windsurf/mcp_config.json"),
}


def mcp_url() -> str:
    return f"{settings.PEERCODE_PUBLIC_URL}/mcp"


def mcp_client_configs(token: str) -> dict[str, str]:
    """The configuration snippet for each client kind, keyed by ``ClientKind`` value."""
    url = mcp_url()
    authorization = f"Bearer {token}"
    headers = {"Authorization": authorization}
    json_config = {"mcpServers": {SERVER_NAME: {"url": url, "headers": headers}}}
    # Windsurf reads a remote server's address from "serverUrl", not "url".
    windsurf_config = {"mcpServers": {SERVER_NAME: {"serverUrl": url, "headers": headers}}}
    return {
        ClientKind.CLAUDE_CODE.value: (
            f"claude mcp add --transport http {SERVER_NAME} {url} "
            f'--header "Authorization: {authorization}"'
        ),
        ClientKind.CURSOR.value: json.dumps(json_config, indent=2),
        # TOML basic strings share JSON's quoting and escapes, so json.dumps quotes them.
        ClientKind.CODEX.value: (
            f"[mcp_servers.{SERVER_NAME}]\n"
            f"url = {json.dumps(url)}\n"
            f'http_headers = {{ "Authorization" = {json.dumps(authorization)} }}'
        ),
        ClientKind.WINDSURF.value: json.dumps(windsurf_config, indent=2),
        ClientKind.OTHER.value: json.dumps(json_config, indent=2),
    }


def client_configs_for(token: str, client_kind: str) -> list[ClientConfig]:
    """Every snippet with its title and destination, the agent's own client's first."""
    snippets = mcp_client_configs(token)
    first = ClientKind.CURSOR.value if client_kind == ClientKind.OTHER else client_kind
    order = sorted(_SHOWN, key=lambda kind: kind != first)
    return [
        ClientConfig(
            client_kind=kind, title=_SHOWN[kind][0], where=_SHOWN[kind][1], snippet=snippets[kind]
        )
        for kind in order
    ]
