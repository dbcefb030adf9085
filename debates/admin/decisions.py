"""The human decisions on a debate, one form each: its input, the service it calls, and what
it reports once done.

An escalated debate offers accepting a proposal, deciding on an edited text, rejecting every
proposal and returning the debate with guidance; an open one offers withdrawing it. The
debate's admin POSTs each form to its own URL (see :mod:`debates.admin.debates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from django import forms

from debates import services
from debates.models import Debate, DebateStatus
from peercode.actors import Actor


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
