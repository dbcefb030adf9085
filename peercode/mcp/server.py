"""The one MCP server of PeerCode, and the discovery of the tools registered on it.

Each app defines its tools in its own ``mcp.py`` (``projects/mcp.py``, ``deltas/mcp.py``,
``locks/mcp.py``, ...) with ``@server.tool``. :func:`autodiscover` imports every installed app's
``mcp`` module, the way Django's admin imports every ``admin.py``; the transport calls it when
it builds the endpoint, before the first request, so a new app's tools need no registration
anywhere else.
"""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import autodiscover_modules
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, GetPromptResult, InputRequiredResult


class PeerCodeServer(MCPServer):
    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context | None = None
    ) -> GetPromptResult | InputRequiredResult:
        # The SDK reports an unknown prompt as an internal error; it is the caller's mistake.
        known = [prompt.name for prompt in await self.list_prompts()]
        if name not in known:
            offer = f"Its prompts: {', '.join(known)}." if known else "It offers none."
            raise MCPError(
                INVALID_PARAMS,
                f"Unknown prompt {name!r}: PeerCode has no prompt by that name. {offer} "
                "Use prompts/list to see them, or call the tools (tools/list) instead.",
            )
        return await super().get_prompt(name, arguments, context)


server = PeerCodeServer(
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
