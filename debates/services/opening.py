"""Opening a debate: on a contract version, a task, or a free topic; or from a contract
proposal that a non-owner pushed as a delta."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from debates.models import Debate, DebateStatus, SubjectKind
from debates.services.common import (
    MAX_PARTICIPANTS,
    MAX_PROPOSAL,
    MAX_RATIONALE,
    MAX_TOPIC,
    add_proposal,
    bounded_text,
    open_round,
    tell_participants,
)
from deltas.models import Delta, DeltaKind
from peercode.actors import Actor
from peercode.errors import ValidationFailed
from peercode.events.services import record_event
from projects.models import Agent, Contract, ContractVersion, Project, Task
from projects.services.tasks import contracts_by_name, tasks_by_key

SUBJECTS = ", ".join(SubjectKind.values)


def open_debate(
    *,
    project: Project,
    actor: Actor,
    topic: str,
    participants: Sequence[str],
    subject: str = SubjectKind.FREE,
    contract: str | None = None,
    contract_version: int | None = None,
    task: str | None = None,
    proposal: str | None = None,
    rationale: str = "",
    proposal_author: Agent | None = None,
    source_delta_seq: int | None = None,
) -> Debate:
    """Open a debate among two or more agents of the project and start its first round.

    An agent that opens a debate takes part in it. ``proposal`` (optional) is the opening
    proposal P1, visible to every participant from the start, written by the opener (or by
    ``proposal_author``, a participant, when the opener brings someone else's proposal).
    Emits ``debate.opened`` and sends a ``debate`` delta to the participants. Refuses, changing
    nothing: an unknown subject, fewer than two participants, unknown or inactive agents,
    agents of another project.
    """
    actor.check_project(project)
    topic = bounded_text(topic, what="The topic", limit=MAX_TOPIC)
    opening = (
        bounded_text(proposal, what="The proposal", limit=MAX_PROPOSAL)
        if proposal is not None
        else None
    )
    rationale = bounded_text(rationale, what="The rationale", limit=MAX_RATIONALE, required=False)
    subject_contract, version, subject_task = _subject(
        project, subject, contract=contract, contract_version=contract_version, task=task
    )
    agents = _participants(project, actor, participants)
    if proposal_author is not None and proposal_author not in agents:
        raise ValidationFailed(
            f"The opening proposal's author {proposal_author.name!r} must take part in the "
            "debate; add it to the participants.",
            code="author_not_participant",
        )
    with transaction.atomic():
        debate = Debate.objects.create(
            project=project,
            topic=topic,
            subject_kind=subject,
            contract=subject_contract,
            contract_version=version,
            task=subject_task,
            initiator=actor.agent,
            initiator_label=actor.label,
            max_rounds=project.max_debate_rounds,
            source_delta_seq=source_delta_seq,
        )
        debate.participants.set(agents)
        open_round(debate, 1, timezone.now())
        debate.save()
        if opening is not None:
            author = proposal_author or actor.agent
            add_proposal(
                debate,
                number=1,
                author=author,
                author_label=Actor.for_agent(author).label if author else actor.label,
                round_number=0,
                text=opening,
            )
        record_event(
            project=project,
            type="debate.opened",
            actor=actor,
            subject=f"debate:{debate.pk}",
            payload={
                "topic": topic,
                "subject": subject,
                "contract": subject_contract.name if subject_contract else None,
                "version": version.number if version else None,
                "task": subject_task.key if subject_task else None,
                "participants": [agent.name for agent in agents],
                "opening_proposal": opening is not None,
                "rationale": rationale,
            },
        )
        tell_participants(
            debate,
            f"Debate #{debate.pk} opened by {actor.label}: {topic}",
            _opening_body(debate, agents, rationale, opening is not None),
        )
    return debate


def open_debate_from_proposal(
    *, project: Project, actor: Actor, seq: int, topic: str = ""
) -> Debate:
    """Turn a non-owner's contract proposal (a ``contract_change`` delta carrying a proposed
    spec) into a debate between its author and the agent whose task owns the contract, with
    the proposed spec as the opening proposal P1 (authored by the proposer).

    Idempotent while that debate is live: asking again (a retried call, or the other party)
    returns the open or escalated debate already made from the delta."""
    actor.check_project(project)
    delta = (
        Delta.objects.select_related("author")
        .filter(project=project, seq=seq, kind=DeltaKind.CONTRACT_CHANGE)
        .first()
    )
    if delta is None or not delta.proposed_spec:
        raise ValidationFailed(
            f"Delta #{seq} is not a contract proposal: pick a contract_change delta that "
            "carries a proposed spec (pushed by an agent that does not own the contract).",
            code="not_a_proposal",
        )
    contract = contracts_by_name(project, delta.contracts)[0]
    owner_task = contract.owner_task
    owner = owner_task.assignee if owner_task is not None else None
    if owner is None or delta.author is None:
        raise ValidationFailed(
            f"Contract {contract.name!r} has no owner agent to debate with (its providing "
            "task is unassigned), or the proposer is gone. Assign the providing task first.",
            code="no_owner_to_debate",
        )
    names = [delta.author.name, owner.name]
    if actor.agent is not None and actor.agent.name not in names:
        names.append(actor.agent.name)
    current = contract.versions.order_by("-number").first()
    with transaction.atomic():
        # The contract's row serializes the two parties asking at the same moment, so the
        # second finds the first one's debate instead of opening another.
        Contract.objects.select_for_update().filter(pk=contract.pk).first()
        live = (
            Debate.objects.filter(
                project=project,
                source_delta_seq=seq,
                status__in=(DebateStatus.OPEN, DebateStatus.ESCALATED),
            )
            .order_by("-pk")
            .first()
        )
        if live is not None:
            return live
        return open_debate(
            project=project,
            actor=actor,
            topic=topic or f"{contract.name}: {delta.summary}"[:MAX_TOPIC],
            participants=names,
            subject=SubjectKind.CONTRACT,
            contract=contract.name,
            contract_version=current.number if current else None,
            proposal=delta.proposed_spec,
            proposal_author=delta.author,
            source_delta_seq=seq,
        )


def _subject(
    project: Project,
    subject: str,
    *,
    contract: str | None,
    contract_version: int | None,
    task: str | None,
) -> tuple[Contract | None, ContractVersion | None, Task | None]:
    if subject not in SubjectKind.values:
        raise ValidationFailed(
            f"Unknown subject {subject!r}; use one of {SUBJECTS}.", code="unknown_subject"
        )
    if subject == SubjectKind.CONTRACT:
        if not contract or task:
            raise ValidationFailed(
                "A contract debate names the contract ('contract') and no task.",
                code="contract_subject_needs_contract",
            )
        found = contracts_by_name(project, [contract])[0]
        versions = found.versions.order_by("-number")
        if contract_version is not None:
            versions = versions.filter(number=contract_version)
        version = versions.first()
        if contract_version is not None and version is None:
            raise ValidationFailed(
                f"Contract {found.name!r} has no version {contract_version}; leave "
                "'contract_version' out to debate its current version.",
                code="unknown_contract_version",
            )
        return found, version, None
    if subject == SubjectKind.TASK:
        if not task or contract or contract_version is not None:
            raise ValidationFailed(
                "A task debate names the task ('task') and no contract.",
                code="task_subject_needs_task",
            )
        return None, None, tasks_by_key(project, [task], what="task")[0]
    if contract or task or contract_version is not None:
        raise ValidationFailed(
            f"A free debate has no contract or task; use subject 'contract' or 'task' to "
            f"debate one (subjects: {SUBJECTS}).",
            code="free_subject_with_target",
        )
    return None, None, None


def _participants(project: Project, actor: Actor, names: Sequence[str]) -> list[Agent]:
    wanted = list(dict.fromkeys(str(name) for name in names))
    if actor.agent is not None and actor.agent.name not in wanted:
        wanted.insert(0, actor.agent.name)
    if len(wanted) > MAX_PARTICIPANTS:
        raise ValidationFailed(
            f"A debate has at most {MAX_PARTICIPANTS} participants; {len(wanted)} were named.",
            code="too_many_participants",
        )
    found = {
        agent.name: agent
        for agent in Agent.objects.filter(project=project, name__in=wanted, is_active=True)
    }
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValidationFailed(
            f"Unknown or inactive agent(s) in project {project.slug!r}: {', '.join(missing)}. "
            "Participants must be active agents of this project.",
            code="unknown_participant",
            details={"unknown": missing},
        )
    if len(found) < 2:
        raise ValidationFailed(
            "A debate needs at least two participants (you count when you open it as an "
            "agent): name the agents you disagree with in 'participants'.",
            code="too_few_participants",
        )
    return [found[name] for name in wanted]


def _opening_body(debate: Debate, agents: list[Agent], rationale: str, has_proposal: bool) -> str:
    names = ", ".join(agent.name for agent in agents)
    lines = [
        f"Participants: {names}. Round 1 of at most {debate.max_rounds} is open and blind "
        "(nobody sees the others' turns until it closes).",
        "Take your turn with debate_turn: propose a concrete alternative or support a "
        "proposal, with a rationale.",
    ]
    if has_proposal:
        lines.append("The opening proposal is P1 (get_debate shows it).")
    if rationale:
        lines.append(f"Why: {rationale}")
    return "\n\n".join(lines)
