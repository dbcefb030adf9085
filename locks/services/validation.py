"""Cleaning what a caller asks the lock services for: lease lengths, reasons, task keys, lock
ids, and whether the agent may take locks at all.

Each check raises a domain error whose message says what was wrong and what to ask for instead,
before any transaction starts.
"""

from __future__ import annotations

from django.conf import settings

from peercode.errors import PermissionDenied, ValidationFailed
from projects.models import Agent, Project, Task

MAX_REASON_LENGTH = 500  # Lock.reason
MAX_CHECK_SPECS = 100


def ttl_bounds(project: Project) -> tuple[int, int]:
    """The shortest and longest lease one request may ask for."""
    lowest = int(getattr(settings, "PEERCODE_MIN_LOCK_TTL_SECONDS", 10))
    return lowest, max(lowest, project.max_lock_ttl_seconds)


def clean_ttl(project: Project, ttl_seconds: object, *, default: int) -> int:
    """``ttl_seconds`` within the project's bounds (``default``, clipped to them, when None)."""
    lowest, highest = ttl_bounds(project)
    if ttl_seconds is None:
        return min(max(default, lowest), highest)
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int):
        raise ValidationFailed(
            f"ttl_seconds must be a whole number of seconds, got {ttl_seconds!r}.",
            code="bad_ttl",
            details={"min": lowest, "max": highest},
        )
    if not lowest <= ttl_seconds <= highest:
        raise ValidationFailed(
            f"ttl_seconds {ttl_seconds} is out of bounds: project {project.slug!r} grants "
            f"leases of {lowest} to {highest} seconds. Ask for a lease in that range and renew "
            "it (renew_lock) while you work.",
            code="ttl_out_of_bounds",
            details={"min": lowest, "max": highest},
        )
    return ttl_seconds


def _clean_reason(reason: object) -> str:
    if not isinstance(reason, str):
        raise ValidationFailed(f"reason must be text, got {reason!r}.", code="bad_reason")
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationFailed(
            f"reason is {len(reason)} characters; keep it to {MAX_REASON_LENGTH}.",
            code="bad_reason",
        )
    return reason


def _task(project: Project, task_key: object) -> Task | None:
    if task_key is None or task_key == "":
        return None
    task = (
        Task.objects.filter(project=project, key=task_key).first()
        if isinstance(task_key, str)
        else None
    )
    if task is None:
        raise ValidationFailed(
            f"Unknown task {task_key!r}: project {project.slug!r} has no task with that key. "
            "Use the key of one of its tasks (such as 'P1-T3'), or leave task_key out.",
            code="unknown_task",
            details={"unknown": [task_key]},
        )
    return task


def _check_active(agent: Agent) -> None:
    if not agent.is_active:
        raise PermissionDenied(
            f"Agent {agent.name!r} has been revoked and cannot take locks; ask a human for a "
            "new token.",
            code="agent_revoked",
        )


def _whole_number(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationFailed(
            f"{name} must be a lock id (a whole number ≥ 1), got {value!r}.", code="bad_lock_id"
        )
    return value
