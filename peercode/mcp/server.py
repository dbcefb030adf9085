"""The one MCP server of PeerCode, and the discovery of the tools registered on it.

Each app defines its tools in its own ``mcp.py`` (``projects/mcp.py``, ``deltas/mcp.py``,
``locks/mcp.py``, ...) with ``@server.tool``. :func:`autodiscover` imports every installed app's
``mcp`` module, the way Django's admin imports every ``admin.py``; the transport calls it when
it builds the endpoint, before the first request, so a new app's tools need no registration
anywhere else.
"""

from __future__ import annotations

from django.utils.module_loading import autodiscover_modules
from mcp.server.mcpserver import MCPServer

server = MCPServer(
    "peercode",
    title="PeerCode",
    version="0.1.0",
    instructions=(
        "PeerCode coordinates several coding agents building one codebase. Start with whoami "
        "(who you are, your project, your current task), then get_plan to see the phases, "
        "tasks, waves and contracts. Claim a ready task with claim_task before working on it, "
        "read the contracts it consumes with get_contract, and move it along with update_task "
        "(in_progress -> review -> done). Task keys look like 'P1-T3'. When you disagree with a "
        "peer about an interface or an approach, open_debate instead of arguing in deltas, and "
        "take your turn with debate_turn whenever whoami shows debates_awaiting."
    ),
)


def autodiscover() -> None:
    """Import each installed app's ``mcp`` module so that its tools register on :data:`server`.

    Idempotent (a module is imported once). An app without ``mcp.py`` is skipped; an error
    inside one that exists is raised, not hidden.
    """
    autodiscover_modules("mcp")
