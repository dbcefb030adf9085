"""What the plan services share: the humans-only rule."""

from __future__ import annotations

from peercode.actors import Actor
from peercode.errors import PermissionDenied


def require_human(actor: Actor, action: str) -> None:
    if actor.is_agent:
        raise PermissionDenied(
            f"Agents cannot {action}; ask a human to do it in the dashboard or admin.",
            code="humans_only",
        )
