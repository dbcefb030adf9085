"""The debates app's MCP tools (:mod:`.tools`) and their shapes (:mod:`.shapes`).

Imported by :func:`peercode.mcp.server.autodiscover` like every app's ``mcp`` module; importing
the tools registers them on the one server.
"""

from debates.mcp import tools  # noqa: F401
