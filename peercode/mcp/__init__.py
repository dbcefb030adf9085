"""The MCP adapter: PeerCode's agent endpoint at /mcp (Streamable HTTP, official ``mcp`` SDK).

Every ``mcp`` import lives in this package. ``transport`` turns the SDK's session manager into
an ASGI app that Channels can route to (authentication, Host/Origin checks, no lifespan);
``tools`` defines the tools, each a few lines that call one service or selector.
"""
