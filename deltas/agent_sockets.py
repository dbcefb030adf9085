"""An agent's open WebSockets, on every server process.

Each delta consumer serving an agent joins the agent's group (``group_name``), so one message
reaches every socket of that agent: in this process through the in-memory channel layer, in all
of them through Redis. Revoking or rotating the agent's token closes them (``close_all``).

A module of its own rather than part of ``deltas.services``: the token services in
``projects.services`` call it, and ``deltas.services`` imports ``projects.services``.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def group_name(agent_id: int) -> str:
    """The Channels group every open socket of one agent joins."""
    return f"agent.{agent_id}"


def close_all(*, agent_id: int) -> None:
    """Close every open socket of the agent, after an error frame saying its token no longer
    holds. Best effort, like every live message: a socket that misses it is refused at its next
    ack or ping, which check the token against the database."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(group_name(agent_id), {"type": "agent.revoked"})
