"""Pushing and acknowledging deltas, and the temporal-coupling guard.

Every function runs in one transaction and records its event in it. Live fan-out to the
project's Channels group is scheduled with ``transaction.on_commit``, so a rolled-back delta is
never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import status

from deltas import selectors
from deltas.models import AgentCursor, Delta, DeltaKind, DeltaStream, Significance
from peercode.actors import Actor
from peercode.errors import Conflict, PeerCodeError, ValidationFailed
from peercode.events.services import record_event
from peercode.permissions import Action, require
from projects.models import Agent, Contract, ContractVersion, CouplingGuard, Project, Task
from projects.services.contracts import (
    check_may_publish,
    owns_contract,
    publish_contract_version,
)
from projects.services.tasks import clean_globs, contracts_by_name, tasks_by_key

MAX_SUMMARY = 200
MAX_BODY = 20000


def group_name(project_id: int) -> str:
    """The Channels group every live subscriber of a project's deltas joins."""
    return f"deltas.{project_id}"


@dataclass(frozen=True)
class PushResult:
    delta: Delta
    folded: bool  # True: a duplicate of a recent delta, counted on it rather than stored anew
    contract_version: ContractVersion | None = None


def _choice(value: str, choices: type[DeltaKind] | type[Significance], what: str) -> str:
    if value not in choices.values:
        raise ValidationFailed(
            f"Unknown {what} {value!r}; use one of {', '.join(choices.values)}.",
            code=f"unknown_{what}",
        )
    return value


def push_delta(
    *,
    project: Project,
    actor: Actor,
    kind: str,
    summary: str,
    significance: str = Significance.NORMAL,
    body: str = "",
    tasks: Sequence[str] = (),
    contracts: Sequence[str] = (),
    paths: Sequence[str] = (),
    spec: str | None = None,
    rationale: str = "",
    agents: Sequence[Agent] = (),
) -> PushResult:
    """Store a delta with the project's next sequence number and send it to subscribers.

    Guarantees: sequence numbers are 1, 2, 3 ... per project with no gap and no duplicate,
    under any concurrency (the stream row is locked while the number is taken, in the same
    transaction that stores the delta). A ``contract_change`` carrying a ``spec`` publishes the
    contract's next version when the author holds the task that provides it; from anyone else
    the spec is recorded as a proposal for the owner. A push repeating one of the author's own
    deltas (same kind, significance, summary and touched items, and no spec) within
    ``PEERCODE_DELTA_FOLD_SECONDS`` is folded into it instead. ``agents`` addresses the delta
    to those agents (it concerns them whatever their tasks); ``debate`` deltas are the server's
    own, sent to a debate's participants. Emits ``delta.pushed`` or ``delta.folded``; fan-out
    happens after commit.
    """
    if actor.is_agent:
        actor.check_project(project)
    else:
        require(actor, Action.PUSH_DELTAS, project)
    kind = _choice(kind, DeltaKind, "kind")
    if kind == DeltaKind.DEBATE and actor.kind != "system":
        raise ValidationFailed(
            "Deltas of kind 'debate' are sent by the server as a debate moves on; open a debate "
            "or take a turn in one instead.",
            code="debate_delta_reserved",
        )
    significance = _choice(significance, Significance, "significance")
    summary = (summary or "").strip()
    if not summary:
        raise ValidationFailed(
            "A delta needs a summary: one line saying what changed, e.g. 'AuthAPI login now "
            "returns a refresh token'.",
            code="empty_summary",
        )
    if len(summary) > MAX_SUMMARY:
        raise ValidationFailed(
            f"The summary is {len(summary)} characters; keep it to {MAX_SUMMARY} and put the "
            "details in the body.",
            code="summary_too_long",
        )
    if len(body) > MAX_BODY:
        raise ValidationFailed(f"The body is longer than {MAX_BODY} characters; shorten it.")
    if spec is not None and kind != DeltaKind.CONTRACT_CHANGE:
        raise ValidationFailed(
            "Only a contract_change delta can carry a spec; use kind 'contract_change'.",
            code="spec_without_contract_change",
        )
    if spec is not None and not spec.strip():
        raise ValidationFailed(
            "The spec is empty; send the contract's full new spec, or leave 'spec' out to "
            "push the change without one.",
            code="empty_spec",
        )
    task_keys = [task.key for task in tasks_by_key(project, tasks, what="tasks")]
    contract_objs = contracts_by_name(project, contracts)
    contract_names = [contract.name for contract in contract_objs]
    clean_paths = clean_globs(paths, what="paths")
    if spec is not None and len(contract_objs) != 1:
        raise ValidationFailed(
            "A contract_change with a spec must name exactly one contract in 'contracts'.",
            code="spec_needs_one_contract",
        )
    with transaction.atomic():
        stream, _ = DeltaStream.objects.get_or_create(project=project)
        # A spec is never a duplicate: folding would drop the version or proposal it carries.
        folded = None
        if spec is None:
            folded = _fold_duplicate(
                project, actor, kind, significance, summary, task_keys, contract_names, clean_paths
            )
        if folded is not None:
            return PushResult(delta=folded, folded=True)
        version = None
        proposed = ""
        if spec is not None:
            contract = contract_objs[0]
            if owns_contract(actor.agent, contract) or not actor.is_agent:
                version = publish_contract_version(
                    contract=contract, spec=spec, rationale=rationale or summary, actor=actor
                )
            else:
                proposed = spec
        DeltaStream.objects.filter(pk=stream.pk).update(head=F("head") + 1)
        seq = DeltaStream.objects.values_list("head", flat=True).get(pk=stream.pk)
        delta = Delta.objects.create(
            project=project,
            seq=seq,
            author=actor.agent,
            author_label=actor.label,
            kind=kind,
            significance=significance,
            summary=summary,
            body=body,
            tasks=task_keys,
            contracts=contract_names,
            paths=clean_paths,
            contract_version=version,
            proposed_spec=proposed,
            agents=[agent.name for agent in agents],
        )
        record_event(
            project=project,
            type="delta.pushed",
            actor=actor,
            subject=f"delta:{seq}",
            payload={
                "seq": seq,
                "kind": kind,
                "significance": significance,
                "summary": summary,
                "contract_version": version.number if version else None,
                "proposal": bool(proposed),
            },
        )
        transaction.on_commit(lambda: broadcast(delta), robust=True)
    return PushResult(delta=delta, folded=False, contract_version=version)


def _fold_duplicate(
    project: Project,
    actor: Actor,
    kind: str,
    significance: str,
    summary: str,
    tasks: list[str],
    contracts: list[str],
    paths: list[str],
) -> Delta | None:
    if actor.agent is None:
        return None
    window = timezone.now() - timedelta(seconds=settings.PEERCODE_DELTA_FOLD_SECONDS)
    # Same significance too: a repeat that escalates to breaking must reach everyone anew.
    recent = Delta.objects.filter(
        project=project,
        author=actor.agent,
        kind=kind,
        significance=significance,
        summary=summary,
        created_at__gte=window,
    ).order_by("-seq")
    for delta in recent:
        same = (
            sorted(delta.tasks) == sorted(tasks)
            and sorted(delta.contracts) == sorted(contracts)
            and sorted(delta.paths) == sorted(paths)
        )
        if same:
            Delta.objects.filter(pk=delta.pk).update(folded=F("folded") + 1)
            delta.refresh_from_db()
            record_event(
                project=project,
                type="delta.folded",
                actor=actor,
                subject=f"delta:{delta.seq}",
                payload={"seq": delta.seq, "folded": delta.folded},
            )
            return delta
    return None


def broadcast(delta: Delta) -> None:
    """Send a committed delta to the project's live subscribers (best effort: a subscriber
    that misses it fills the gap from the database)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        group_name(delta.project_id),
        {
            "type": "delta.pushed",
            "delta": selectors.as_dict(delta),
            # Not on the wire: what a subscriber needs to judge relevance without a query.
            "author_id": delta.author_id,
            "contract_version_id": delta.contract_version_id,
        },
    )


class TokenRevoked(PeerCodeError):
    http_status = status.HTTP_401_UNAUTHORIZED
    default_code = "token_revoked"

    def __init__(self) -> None:
        super().__init__(
            "This agent's token has been revoked or replaced; nothing more is accepted with "
            "it. Ask a human for the agent's current token ('python manage.py agent rotate "
            "--project SLUG NAME' issues one) and connect again with it."
        )


def check_token_holds(agent: Agent) -> None:
    """Refuse an agent whose token was revoked or rotated after it authenticated: the agent
    carries the hash of the token it authenticated with."""
    holds = Agent.objects.filter(pk=agent.pk, token_hash=agent.token_hash, is_active=True)
    if not holds.exists():
        raise TokenRevoked()


def ack_updates(*, agent: Agent, seq: int) -> AgentCursor:
    """Acknowledge every delta up to ``seq``. The cursor only moves forward; a seq beyond the
    project's head is refused, and so is an agent whose token no longer holds (a socket opened
    before a revocation). Emits ``deltas.acknowledged`` when the cursor moves."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValidationFailed(f"seq must be a whole number ≥ 0, got {seq!r}.", code="bad_seq")
    with transaction.atomic():
        check_token_holds(agent)
        cursor, _ = AgentCursor.objects.select_for_update().get_or_create(agent=agent)
        head = selectors.head_of(agent.project)
        if seq > head:
            raise ValidationFailed(
                f"Cannot acknowledge seq {seq}: the newest delta is {head}. Acknowledge a seq "
                "you have received.",
                code="ack_beyond_head",
                details={"head": head},
            )
        if seq > cursor.acked_seq:
            previous = cursor.acked_seq
            cursor.acked_seq = seq
            cursor.acked_at = timezone.now()
            cursor.save()
            record_event(
                project=agent.project,
                type="deltas.acknowledged",
                actor=Actor.for_agent(agent),
                subject=f"agent:{agent.name}",
                payload={"from": previous, "to": seq},
            )
    return cursor


def coupling_guard(*, agent: Agent, action: str, task_key: str | None = None) -> list[str]:
    """The temporal-coupling check before an agent acts on the code.

    Returns a warning per unacknowledged breaking change to a contract the agent's tasks
    consume — and, with ``task_key``, the contracts of the task it is about to take — (empty
    when there is none); when the project's guard is ``refuse``, raises Conflict instead.
    """
    consumed: list[str] = []
    if task_key is not None:
        consumed = list(
            Task.objects.filter(project_id=agent.project_id, key=task_key).values_list(
                "consumes__name", flat=True
            )
        )
    pending = selectors.unacknowledged_breaking_contract_changes(
        agent, also_consumed=[name for name in consumed if name]
    )
    warnings = [
        f"Unacknowledged breaking change #{delta.seq} to {', '.join(delta.contracts)}: "
        f"{delta.summary}. Read it (get_updates) and acknowledge it (ack_updates) before "
        "coding against the old contract."
        for delta in pending
    ]
    if warnings and agent.project.coupling_guard == CouplingGuard.REFUSE:
        raise Conflict(
            f"Refused to {action}: " + " ".join(warnings),
            code="unacknowledged_breaking_change",
            details={"seqs": [delta.seq for delta in pending]},
        )
    return warnings


def publish_contract_change(
    *,
    contract: Contract,
    actor: Actor,
    spec: str,
    rationale: str = "",
    summary: str = "",
    significance: str = Significance.BREAKING,
) -> PushResult:
    """Publish a contract's next version as its owner and tell every consumer, in one step.

    The REST endpoint and the admin publish through here, so a version never appears without
    its ``contract_change`` delta. A non-owner is refused (with how to propose instead) before
    anything is written.
    """
    check_may_publish(actor, contract)
    if not spec.strip():
        raise ValidationFailed(
            f"The spec of contract {contract.name!r} cannot be empty; send its complete new spec.",
            code="empty_spec",
        )
    return push_delta(
        project=contract.project,
        actor=actor,
        kind=DeltaKind.CONTRACT_CHANGE,
        significance=significance,
        summary=summary or f"{contract.name}: new version published"[:MAX_SUMMARY],
        contracts=[contract.name],
        spec=spec,
        rationale=rationale,
    )
