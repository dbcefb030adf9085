"""What an agent should hear about its own locks and pushes: grants it waited for.

A lock granted at once, or a push turn that came at once, is answered by the call that asked
for it. One that comes later, when the line moves, is news: it is sent live over the agent's
WebSocket and returned by ``get_updates``/``wait_for_updates``. Fencing tokens strictly increase
per project across locks and push leases, so they serve as the cursor for this news, as seq
does for deltas: "tell me about grants with a token after N".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F
from django.utils import timezone

from locks.models import Lock, LockSpace, LockStatus, PushStatus, PushTicket
from projects.models import Agent


@dataclass
class Notices:
    granted_locks: list[Lock] = field(default_factory=list)
    push_turns: list[PushTicket] = field(default_factory=list)
    # The project's newest fencing token: pass it back as the cursor next time.
    last_token: int = 0

    def __bool__(self) -> bool:
        return bool(self.granted_locks or self.push_turns)


def notices_for(agent: Agent, *, after_token: int = 0) -> Notices:
    """Locks the agent waited for and now holds, and push turns it waited for and now has,
    granted with a fencing token after ``after_token``."""
    now = timezone.now()
    locks = (
        Lock.objects.filter(
            holder=agent,
            status=LockStatus.HELD,
            expires_at__gt=now,
            fencing_token__gt=after_token,
            granted_at__gt=F("requested_at"),
        )
        .select_related("holder", "task")
        .order_by("fencing_token")
    )
    turns = (
        PushTicket.objects.filter(
            agent=agent,
            status=PushStatus.ACTIVE,
            expires_at__gt=now,
            fencing_token__gt=after_token,
            started_at__gt=F("requested_at"),
        )
        .select_related("agent")
        .order_by("fencing_token")
    )
    last = LockSpace.objects.filter(project_id=agent.project_id).values_list(
        "last_token", flat=True
    )
    return Notices(
        granted_locks=list(locks), push_turns=list(turns), last_token=last[0] if last else 0
    )


def is_notice_for(message: dict[str, object], agent_id: int) -> bool:
    """A live group message announcing a grant to ``agent_id`` (see locks.services/push)."""
    return (
        message.get("type") in ("lock.granted", "push.turn") and message.get("agent_id") == agent_id
    )
