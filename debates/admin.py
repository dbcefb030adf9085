"""Debates in the admin: a readable transcript, and the human decisions on it.

Nobody edits a debate's rows here. Every change goes through :mod:`debates.services` as the
logged-in human, so it is checked by the same rules as over the API or MCP, and the event log
records it with their name. On an escalated debate's page a human accepts a proposal, decides
on an edited text, rejects every proposal, or returns the debate with guidance. An open debate
can be withdrawn. Each of these is a small form that POSTs to its own URL under the debate's
page. If the service refuses, the human sees its message and nothing changes.

Agents write the proposals, rationales, objections and answers, and evidence quotes web pages.
All of it is untrusted, so the templates show it auto-escaped and never mark it safe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from debates import selectors, services
from debates.mediation import SOURCE_ANTHROPIC, SOURCE_STRUCTURED
from debates.models import (
    Debate,
    DebateStatus,
    DecisionKind,
    EscalationReason,
    SearchHit,
    TurnKind,
)
from peercode.actors import Actor
from peercode.errors import PeerCodeError
from peercode.events.admin import ReadOnlyAdmin
from peercode.events.models import Event
from projects.admin.service_admin import actor_for, changelist_link

# Where get_changelist_instance leaves each listed debate's list shape (participants, awaiting).
_BRIEF_ATTR = "_admin_brief"

OUTCOMES = {
    "next_round": "no consensus; the next round opened",
    "consensus": "consensus",
    "escalated": "escalated to a human",
    "withdrawn": "withdrawn",
}
CLOSED_BY = {
    "turns": "everyone took a turn",
    "deadline": "the deadline passed",
    "withdrawn": "the debate was withdrawn",
}
SUMMARY_SOURCES = {
    SOURCE_ANTHROPIC: "AI-written by the mediator: advice only. Check it against the transcript.",
    SOURCE_STRUCTURED: "Built from the transcript by PeerCode's rules (no AI).",
}


# The human decisions --------------------------------------------------------------------


def _text_field(label: str, *, rows: int, help_text: str = "") -> forms.CharField:
    # Not required here: the service checks every input and says what is missing.
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows, "cols": 80}),
    )


class DecisionForm(forms.Form):
    """One human decision: its input, the service it calls, and what it reports once done.

    The service validates the input, so the rules stay in one place: every field is optional
    here. Fields named ``proposal`` or ``based_on`` offer the debate's proposals.
    """

    slug: ClassVar[str]
    title: ClassVar[str]
    offered_when: ClassVar[str] = DebateStatus.ESCALATED

    def __init__(self, *args: Any, proposals: Sequence[tuple[str, str]] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        for name, blank in (("proposal", None), ("based_on", "none: my own text")):
            field = self.fields.get(name)
            if field is not None:
                choices = [("", blank)] if blank else []
                field.widget = forms.Select(choices=[*choices, *proposals])

    def decide(self, debate: Debate, actor: Actor) -> Debate:
        raise NotImplementedError

    def report(self, debate: Debate) -> str:
        version, contract = debate.resulting_version, debate.contract
        published = (
            f" {contract.name} is now at version {version.number}."
            if version is not None and contract is not None
            else ""
        )
        return f"Debate #{debate.pk} resolved: {self.done(debate)}.{published} " + TOLD

    def done(self, debate: Debate) -> str:
        raise NotImplementedError


TOLD = "The participants are told."


class AcceptForm(DecisionForm):
    slug, title = "accept", "Accept a proposal"
    proposal = forms.CharField(label="Proposal", required=False)
    reason = _text_field("Why (optional)", rows=2)

    def decide(self, debate: Debate, actor: Actor) -> Debate:
        data = self.cleaned_data
        return services.accept_proposal(
            debate=debate, actor=actor, proposal=data["proposal"], reason=data["reason"]
        )

    def done(self, debate: Debate) -> str:
        return f"you accepted {debate.decided_proposal}"


class EditedForm(DecisionForm):
    slug, title = "edit", "Decide on an edited text"
    based_on = forms.CharField(label="Based on", required=False)
    text = _text_field(
        "The decided text",
        rows=12,
        help_text="For a contract debate, the complete new spec: it becomes the next version.",
    )
    reason = _text_field("Why (optional)", rows=2)

    def decide(self, debate: Debate, actor: Actor) -> Debate:
        data = self.cleaned_data
        return services.decide_edited(
            debate=debate,
            actor=actor,
            text=data["text"],
            based_on=data["based_on"] or None,
            reason=data["reason"],
        )

    def done(self, debate: Debate) -> str:
        based = f" based on {debate.decided_proposal}" if debate.decided_proposal else ""
        return f"you decided on your edited text{based}"


class RejectForm(DecisionForm):
    slug, title = "reject", "Reject every proposal"
    reason = _text_field("Why none of them", rows=3)

    def decide(self, debate: Debate, actor: Actor) -> Debate:
        return services.reject_proposals(
            debate=debate, actor=actor, reason=self.cleaned_data["reason"]
        )

    def done(self, debate: Debate) -> str:
        return "you rejected every proposal; the subject stays as it was"


class ReturnForm(DecisionForm):
    slug, title = "return", "Return to the agents with guidance"
    guidance = _text_field(
        "Guidance for the participants",
        rows=4,
        help_text="They are shown it, and a fresh set of rounds opens (its first blind).",
    )

    def decide(self, debate: Debate, actor: Actor) -> Debate:
        return services.return_to_agents(
            debate=debate, actor=actor, guidance=self.cleaned_data["guidance"]
        )

    def report(self, debate: Debate) -> str:
        return (
            f"Debate #{debate.pk} returned to its participants with your guidance; round "
            f"{debate.current_round} is open (blind)."
        )


class WithdrawForm(DecisionForm):
    slug, title = "withdraw", "Withdraw the debate"
    offered_when = DebateStatus.OPEN
    reason = _text_field("Why (optional)", rows=2)

    def decide(self, debate: Debate, actor: Actor) -> Debate:
        return services.withdraw_debate(
            debate=debate, actor=actor, reason=self.cleaned_data["reason"]
        )

    def report(self, debate: Debate) -> str:
        return f"Debate #{debate.pk} withdrawn. {TOLD}"


DECISIONS: dict[str, type[DecisionForm]] = {
    form.slug: form for form in (AcceptForm, EditedForm, RejectForm, ReturnForm, WithdrawForm)
}


# The debate's page ------------------------------------------------------------------------


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _subject(subject: dict[str, Any]) -> str:
    if subject["kind"] == "contract":
        return f"contract {subject['contract']} v{subject['contract_version']}"
    if subject["kind"] == "task":
        return f"task {subject['task']}"
    return "free"


def _evidence(item: dict[str, Any]) -> dict[str, Any]:
    # Only web links become links: anything else is shown as text, never followed.
    link = item["url"] if urlsplit(item["url"]).scheme in ("http", "https") else None
    return {**item, "link": link, "retrieved_at": _when(item["retrieved_at"])}


def _turn(turn: dict[str, Any]) -> dict[str, Any]:
    stance = turn["stance"] or "no stance"
    if turn["kind"] == TurnKind.SILENT:
        says, movement = f"was silent, so holds {stance}", "silent"
    else:
        says = f"{'proposes' if turn['kind'] == TurnKind.PROPOSE else 'supports'} {stance}"
        movement = {True: "moved", False: "held", None: "first stance"}[turn["moved"]]
    return {
        **turn,
        "says": says,
        "movement": movement,
        "evidence": [_evidence(item) for item in turn["evidence"]],
    }


def _round(row: dict[str, Any], turns: list[dict[str, Any]], awaiting: list[str]) -> dict[str, Any]:
    tally = row["tally"] or {}
    return {
        "number": row["number"],
        "opened_at": _when(row["opened_at"]),
        "deadline": _when(row["deadline"]),
        "closed_at": _when(row["closed_at"]),
        "closed_by": CLOSED_BY.get(row["closed_by"] or "", row["closed_by"]),
        "outcome": OUTCOMES.get(row["outcome"] or "", row["outcome"]),
        "turns": turns,
        "awaiting": awaiting if row["closed_at"] is None else [],
        "support": [(label, ", ".join(names)) for label, names in tally.get("support", {}).items()],
        "moved": ", ".join(tally.get("moved", [])),
        "silent": ", ".join(tally.get("silent", [])),
        "consensus_on": tally.get("consensus_on"),
    }


def debate_page(debate: Debate, *, may_decide: bool, edit: str = "") -> dict[str, Any]:
    """What the debate's page shows, from the human's full view of the debate
    (:func:`debates.selectors.debate_as_dict` with no viewer), shaped for the templates."""
    shape = selectors.debate_as_dict(debate, viewer=None)
    by_round: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for turn in shape["turns"]:
        by_round[turn["round"]].append(_turn(turn))
    rounds = [_round(row, by_round[row["number"]], shape["awaiting"]) for row in shape["rounds"]]
    escalation = shape["escalation"]
    decision = shape["decision"]
    offered = [d for d in DECISIONS.values() if d.offered_when == debate.status]
    if escalation:
        escalation = {
            **escalation,
            "at": _when(escalation["at"]),
            "reason": EscalationReason(escalation["reason"]).label if escalation["reason"] else "",
            "source": SUMMARY_SOURCES.get(escalation["summary_source"], ""),
            "ai_written": escalation["summary_source"] == SOURCE_ANTHROPIC,
        }
    if decision:
        decision = {**decision, "kind": DecisionKind(decision["kind"]).label}
    proposals = [
        {**proposal, "decided": decision is not None and proposal["id"] == decision["proposal"]}
        for proposal in shape["proposals"]
    ]
    return {
        "debate": shape,
        "rounds": rounds,
        "proposals": proposals,
        "escalation": escalation,
        "decision": decision,
        "withdrawal": (
            {"by": debate.decided_by, "reason": debate.decision_reason, "at": debate.closed_at}
            if debate.status == DebateStatus.WITHDRAWN
            else None
        ),
        "may_edit": may_decide and any(d.slug == "edit" for d in offered),
        "decisions": [
            {
                "slug": d.slug,
                "title": d.title,
                "url": reverse("admin:debates_debate_decide", args=[debate.pk, d.slug]),
                "form": d(
                    auto_id=f"id_{d.slug}_%s",  # several forms on one page: unique ids
                    initial=_initial(d.slug, edit, shape["proposals"]),
                    proposals=_choices(shape["proposals"]),
                ),
            }
            for d in offered
        ]
        if may_decide
        else [],
    }


def _choices(proposals: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(p["id"], f"{p['id']} by {p['author']}") for p in proposals]


def _initial(slug: str, edit: str, proposals: list[dict[str, Any]]) -> dict[str, str]:
    """The edit form starts from the proposal the human chose to edit (``?edit=P2``)."""
    chosen = next((p for p in proposals if p["id"] == edit.strip().upper()), None)
    if slug != "edit" or chosen is None:
        return {}
    return {"based_on": chosen["id"], "text": chosen["text"]}


# Admins ------------------------------------------------------------------------------------


@admin.register(Debate)
class DebateAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "topic",
        "project",
        "subject",
        "status",
        "round",
        "participant_names",
        "awaiting",
        "escalated_at",
    )
    list_display_links = ("id", "topic")
    list_filter = ("status", "project")
    search_fields = ("topic",)
    list_select_related = ("project", "contract", "contract_version", "task")
    fields = (
        "id",
        "topic",
        "project",
        "subject",
        "status",
        "opened_by",
        "round",
        "round_deadline",
        "created_at",
        "closed_at",
        "history",
    )
    readonly_fields = fields
    change_form_template = "admin/debates/debate/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Debate]:
        # Annotated before the admin orders by it (the base class orders first).
        return selectors.by_urgency(Debate.objects.all())

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return ("urgency", "-id")

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # The page's list shapes in three queries, rather than a few for every row.
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)
        for debate, brief in zip(page, selectors.briefs(page), strict=True):
            setattr(debate, _BRIEF_ATTR, brief)
        return changelist

    def _brief(self, debate: Debate) -> dict[str, Any]:
        brief = getattr(debate, _BRIEF_ATTR, None)
        return brief if brief is not None else selectors.briefs([debate])[0]

    @admin.display(description="subject")
    def subject(self, debate: Debate) -> str:
        return _subject(self._brief(debate)["subject"])

    @admin.display(description="opened by")
    def opened_by(self, debate: Debate) -> str:
        return debate.initiator_label

    @admin.display(description="round")
    def round(self, debate: Debate) -> str:
        return f"{debate.round_in_set} / {debate.max_rounds}"

    @admin.display(description="participants")
    def participant_names(self, debate: Debate) -> str:
        return ", ".join(self._brief(debate)["participants"])

    @admin.display(description="awaiting")
    def awaiting(self, debate: Debate) -> str:
        return ", ".join(self._brief(debate)["awaiting"]) or "-"

    @admin.display(description="events")
    def history(self, debate: Debate) -> str:
        return changelist_link(Event, "events of this debate", subject=f"debate:{debate.pk}")

    def has_decide_permission(self, request: HttpRequest) -> bool:
        """Staff with the debate's change permission (superusers have it). The services
        refuse anyone but staff anyway, so the forms are not offered to others."""
        user = request.user
        return bool(getattr(user, "is_staff", False)) and user.has_perm("debates.change_debate")

    def get_urls(self) -> list[URLPattern]:
        decide = self.admin_site.admin_view(require_POST(self.decide_view))
        own = [
            path("<path:object_id>/decide/<slug:decision>/", decide, name="debates_debate_decide")
        ]
        # Before the admin's own patterns, whose last one catches every path under an object.
        return [*own, *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = dict(extra_context or {})
        debate = self.get_object(request, unquote(object_id))
        if debate is not None:
            context["page"] = debate_page(
                debate,
                may_decide=self.has_decide_permission(request),
                edit=request.GET.get("edit", ""),
            )
        return super().change_view(request, object_id, form_url, context)

    def decide_view(self, request: HttpRequest, object_id: str, decision: str) -> HttpResponse:
        """Apply one human decision through its service, then go back to the debate's page
        with what happened (or the service's reason for refusing, with nothing changed)."""
        chosen = DECISIONS.get(decision)
        if chosen is None:
            raise Http404(f"There is no decision {decision!r}; use one of {', '.join(DECISIONS)}.")
        if not self.has_decide_permission(request):
            raise PermissionDenied
        debate = self.get_object(request, unquote(object_id))
        if debate is None:
            raise Http404(f"There is no debate #{object_id}.")
        back = HttpResponseRedirect(reverse("admin:debates_debate_change", args=[debate.pk]))
        form = chosen(request.POST)
        if not form.is_valid():
            self.message_user(request, form.errors.as_text(), messages.ERROR)
            return back
        try:
            decided = form.decide(debate, actor_for(request))
        except PeerCodeError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return back
        self.message_user(request, form.report(decided), messages.SUCCESS)
        return back


@admin.register(SearchHit)
class SearchHitAdmin(ReadOnlyAdmin):
    list_display = ("provider", "query", "url", "agent", "retrieved_at")
    list_filter = ("provider", "project")
    search_fields = ("query", "url", "title")
    list_select_related = ("agent__project",)
    ordering = ("-retrieved_at", "rank")
    fields = (
        "id",
        "project",
        "agent",
        "provider",
        "query",
        "rank",
        "title",
        "url",
        "snippet",
        "retrieved_at",
    )
    readonly_fields = fields
