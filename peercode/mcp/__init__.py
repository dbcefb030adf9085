"""The MCP adapter: PeerCode's agent endpoint at /mcp (Streamable HTTP, official ``mcp`` SDK).

This package holds what every app's tools stand on: ``server`` is the one ``MCPServer`` and
:func:`~peercode.mcp.server.autodiscover`, which imports each installed app's ``mcp.py``
(``projects/mcp.py``, ``deltas/mcp.py``, ``locks/mcp.py``, ...) so that its tools register, as
Django's admin finds ``admin.py``; ``shared`` holds what those tool modules share (the calling
agent, :func:`~peercode.mcp.shared.call`, argument types, shapes more than one app returns);
``transport`` turns the SDK's session manager into an ASGI app that Channels can route to
(authentication, Host/Origin checks, no lifespan) and runs the discovery when it is built.
Each tool is a few lines that call one service or selector of its app.
"""
