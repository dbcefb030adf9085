"""What the debate services share: locking a debate, telling its participants, the limits."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import QuerySet

from debates import rules
from debates.models import Debate, DebateRound, DebateStatus, Proposal, Turn
from deltas.services import push_delta
from peercode.actors import Actor
from peercode.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from peercode.permissions import Action, require
from projects.models import Agent, Project

MAX_TOPIC = 300
MAX_PROPOSAL = 200_000  # a contract debate's proposal is the whole spec
MAX_RATIONALE = 5_000
MAX_ITEM_TEXT = 2_000  # one objection, answer or quote
MAX_ITEMS = 10  # objections, answers or evidence in one turn
MAX_PARTICIPANTS = 10
MAX_CLIENT_KEY = 100


def debate_actor(debate: Debate) -> Actor:
    """Who the server acts as for a debate: its version authorship and its deltas."""
    return Actor.system(f"debate:{debate.pk}")


def locked(debate_id: int, project: Project | int) -> Debate:
    """The debate's row, locked for the rest of the transaction: turns and round closes of one
    debate run one at a time, so a round closes exactly once."""
    debate = (
        Debate.objects.select_for_update(of=("self",))
        .select_related("project", "contract", "task", "contract_version")
        .filter(pk=debate_id, project=project)
        .first()
    )
    if debate is None:
        where = f"Project {project.slug!r}" if isinstance(project, Project) else "This project"
        raise NotFound(
            f"{where} has no debate #{debate_id}; list the project's debates to find its id.",
            code="unknown_debate",
        )
    return debate


def participants_of(debate: Debate) -> list[Agent]:
    return list(debate.participants.order_by("name"))


def require_status(debate: Debate, *allowed: str, action: str) -> None:
    if debate.status not in allowed:
        raise Conflict(
            f"Debate #{debate.pk} is {debate.status}, so you cannot {action}. " + _what_now(debate),
            code="debate_not_" + "_or_".join(allowed),
            details={"status": debate.status},
        )


def _what_now(debate: Debate) -> str:
    if debate.status == DebateStatus.ESCALATED:
        return "It waits for a human decision (get_debate shows the summary)."
    if debate.status == DebateStatus.OPEN:
        return f"It is open in round {debate.current_round}."
    return "It is closed; open a new debate to reopen the question."


def require_steward(actor: Actor, action: str, project: Project) -> None:
    """Deciding for the agents is for a human lead of the project (or staff)."""
    if actor.kind == "system":
        return
    if not actor.is_agent:
        require(actor, Action.DECIDE_DEBATES, project)
        return
    raise PermissionDenied(
        f"Only a human lead can {action}; agents negotiate with their turns, and "
        "escalated debates are decided by a lead in the dashboard or the admin.",
        code="leads_only",
    )


def open_round(debate: Debate, number: int, now: datetime) -> DebateRound:
    deadline = now + timedelta(seconds=debate.project.debate_round_seconds)
    debate.current_round = number
    debate.round_deadline = deadline
    return DebateRound.objects.create(debate=debate, number=number, deadline=deadline)


def add_proposal(
    debate: Debate,
    *,
    number: int,
    author: Agent | None,
    author_label: str,
    round_number: int,
    text: str,
) -> Proposal:
    """Store a proposal with the digests the restating rule compares."""
    words_digest, paragraphs_digest = rules.digests(text)
    return Proposal.objects.create(
        debate=debate,
        number=number,
        author=author,
        author_label=author_label,
        round_number=round_number,
        text=text,
        words_digest=words_digest,
        paragraphs_digest=paragraphs_digest,
    )


def tell_participants(
    debate: Debate, summary: str, body: str = "", *, significance: str = "normal"
) -> None:
    """A delta of kind ``debate`` addressed to the participants (over WebSocket and
    get_updates); it also names the debated contract or task, so their agents see it."""
    push_delta(
        project=debate.project,
        actor=debate_actor(debate),
        kind="debate",
        summary=summary[:200],
        body=body,
        significance=significance,
        contracts=[debate.contract.name] if debate.contract else [],
        tasks=[debate.task.key] if debate.task else [],
        agents=participants_of(debate),
    )


def turns_in(debate: Debate, round_number: int) -> QuerySet[Turn]:
    return Turn.objects.filter(debate=debate, round_number=round_number)


def bounded_text(value: str | None, *, what: str, limit: int, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationFailed(f"{what} is empty; {_why_needed(what)}", code="empty_" + _code(what))
    if len(text) > limit:
        raise ValidationFailed(
            f"{what} is {len(text)} characters; keep it to {limit}.",
            code=_code(what) + "_too_long",
        )
    if "\x00" in text:
        raise ValidationFailed(f"{what} contains NUL characters; remove them.", code="nul")
    return text


def _code(what: str) -> str:
    return what.lower().replace(" ", "_").replace("'", "")


def _why_needed(what: str) -> str:
    reasons = {
        "The rationale": "every turn says why, so that the others can answer it.",
        "The proposal": "a proposal is concrete: for a contract debate the whole new spec, "
        "otherwise the approach.",
        "The topic": "say in one line what is being decided.",
    }
    return reasons.get(what, "give some text.")
