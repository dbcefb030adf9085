"""The debate state machine through its services: opening, turns, rounds, consensus,
escalation, a human's decisions, withdrawal, deadlines, evidence; every refusal, and proof that
a refusal changes nothing; the exact events each action records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from debates import search
from debates.models import Debate, DebateRound, Evidence, Proposal, SearchHit, Turn
from debates.selectors import awaiting_count, briefs, debate_as_dict, debates_of, get_debate
from debates.services import (
    accept_proposal,
    close_overdue_rounds,
    decide_edited,
    open_debate,
    open_debate_from_proposal,
    reject_proposals,
    return_to_agents,
    search_web,
    withdraw_debate,
)
from deltas.models import Delta
from deltas.services import push_delta
from peercode.actors import Actor
from peercode.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from projects.models import Agent, Contract, Membership, Project
from projects.services import delete_project, publish_contract_version
from tests.debates.support import (
    configure,
    debate_deltas,
    debating_project,
    emitted,
    fresh,
    lead,
    open_free,
    outcome,
    refused,
    round_closed_events,
    stances,
    take,
    unchanged,
)
from tests.deltas.factories import agent_on, push
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_user

pytestmark = pytest.mark.django_db

SESSIONS = "Issue opaque session tokens stored server side; revoke a token by deleting its row."
JWT = "Issue signed JWTs that live fifteen minutes, with refresh tokens rotated on each use."
HYBRID = "Browsers get server side sessions while services call each other with short JWTs."
MTLS = "Services authenticate with mutual TLS certificates and browsers keep session cookies."

TURN_TAKEN = ["debate.turn_taken"]
NEXT_ROUND = ["debate.round_closed", "debate.turn_taken", "delta.pushed"]
CONSENSUS = ["debate.decided", "debate.round_closed", "debate.turn_taken", "delta.pushed"]
ESCALATION = ["debate.escalated", "debate.round_closed", "debate.turn_taken", "delta.pushed"]


@pytest.fixture(autouse=True)
def no_ai_mediator(settings: Any) -> None:
    """Escalations keep the structured summary: no mediator is configured in these tests."""
    settings.ANTHROPIC_API_KEY = ""


@pytest.fixture
def project() -> Project:
    return debating_project(rounds=3)


@pytest.fixture
def ann(project: Project) -> Agent:
    return make_agent(project, "ann")[0]


@pytest.fixture
def bob(project: Project) -> Agent:
    return make_agent(project, "bob")[0]


@pytest.fixture
def cy(project: Project) -> Agent:
    return make_agent(project, "cy")[0]


def rounds_of(debate: Debate) -> list[tuple[int, str, str]]:
    """Each round: number, how it closed and its outcome ('' while open)."""
    return [
        (row.number, row.closed_by, row.outcome)
        for row in DebateRound.objects.filter(debate=debate).order_by("number")
    ]


def deadline_passed(debate: Debate) -> datetime:
    debate = fresh(debate)
    assert debate.round_deadline is not None
    return debate.round_deadline + timedelta(seconds=1)


def seen(debate: Debate, viewer: Agent | None) -> dict[str, Any]:
    """What ``viewer`` sees of the debate: proposal labels and (round, agent) of turns."""
    shape = debate_as_dict(fresh(debate), viewer)
    return {
        "proposals": [p["id"] for p in shape["proposals"]],
        "turns": [(t["round"], t["agent"]) for t in shape["turns"]],
    }


# Opening -----------------------------------------------------------------------------------


class TestOpening:
    def test_opening_starts_a_blind_first_round_with_the_opening_proposal_as_p1(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        before = timezone.now()
        with emitted(project) as events:
            debate = open_free(ann, bob, proposal=SESSIONS)
        assert events == ["debate.opened", "delta.pushed"]
        debate = fresh(debate)
        assert (debate.status, debate.current_round, debate.round_in_set) == ("open", 1, 1)
        assert debate.is_blind
        assert debate.max_rounds == 3
        assert debate.initiator == ann
        assert debate.initiator_label == "agent:ann"
        assert sorted(a.name for a in debate.participants.all()) == ["ann", "bob"]
        assert rounds_of(debate) == [(1, "", "")]
        round_one = DebateRound.objects.get(debate=debate, number=1)
        assert round_one.deadline == debate.round_deadline
        assert before + timedelta(seconds=3600) <= round_one.deadline
        assert round_one.deadline <= timezone.now() + timedelta(seconds=3600)
        opening = Proposal.objects.get(debate=debate)
        assert (opening.label, opening.round_number, opening.author, opening.text) == (
            "P1",
            0,
            ann,
            SESSIONS,
        )

    def test_the_participants_are_told_with_a_debate_delta_addressed_to_them(
        self, project: Project, ann: Agent, bob: Agent, cy: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        (delta,) = debate_deltas(debate)
        assert delta.agents == ["ann", "bob"]
        assert delta.author is None
        assert delta.summary == f"Debate #{debate.pk} opened by agent:ann: Session tokens"
        assert "The opening proposal is P1" in delta.body

    def test_opened_event_names_the_subject_and_the_participants(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        event = project.events.get(type="debate.opened")
        assert (event.actor, event.subject) == ("agent:ann", f"debate:{debate.pk}")
        assert event.payload == {
            "topic": "Session tokens",
            "subject": "free",
            "contract": None,
            "version": None,
            "task": None,
            "participants": ["ann", "bob"],
            "opening_proposal": True,
            "rationale": "",
        }

    def test_a_human_lead_opens_a_debate_between_two_agents_without_taking_part(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_debate(
            project=project, actor=lead("maria"), topic="Tokens", participants=["ann", "bob"]
        )
        assert debate.initiator is None
        assert debate.initiator_label == "user:maria"
        assert sorted(a.name for a in debate.participants.all()) == ["ann", "bob"]
        assert not Proposal.objects.filter(debate=debate).exists()

    def test_the_rounds_a_debate_may_take_are_the_projects_setting_when_it_opened(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob)
        configure(project, max_debate_rounds=7)
        assert fresh(debate).max_rounds == 3
        assert open_free(ann, bob).max_rounds == 7

    @pytest.mark.parametrize("others", [[], ["ann"], ["ann", "ann"]])
    def test_a_debate_with_fewer_than_two_participants_is_refused(
        self, project: Project, ann: Agent, others: list[str]
    ) -> None:
        with refused(ValidationFailed, "too_few_participants") as info:
            open_debate(
                project=project, actor=Actor.for_agent(ann), topic="Alone", participants=others
            )
        assert "at least two participants" in info.value.message

    def test_a_human_naming_a_single_agent_is_refused(self, project: Project, ann: Agent) -> None:
        with refused(ValidationFailed, "too_few_participants"):
            open_debate(project=project, actor=lead(), topic="Alone", participants=["ann"])

    def test_participants_from_another_project_are_refused(
        self, project: Project, ann: Agent
    ) -> None:
        stranger, _ = make_agent(make_project(), "stranger")
        with refused(ValidationFailed, "unknown_participant") as info:
            open_free(ann, stranger)
        assert info.value.details == {"unknown": ["stranger"]}

    def test_an_agent_cannot_open_a_debate_in_another_project(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        stranger, _ = make_agent(make_project(), "stranger")
        with refused(PermissionDenied, "wrong_project"):
            open_debate(
                project=project,
                actor=Actor.for_agent(stranger),
                topic="Intrusion",
                participants=["ann", "bob"],
            )

    def test_a_contract_debate_must_name_its_contract(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        with refused(ValidationFailed, "contract_subject_needs_contract"):
            open_debate(
                project=project,
                actor=Actor.for_agent(ann),
                topic="Which contract?",
                participants=["bob"],
                subject="contract",
            )


# Consensus ---------------------------------------------------------------------------------


class TestConsensus:
    def test_everyone_supporting_the_opening_proposal_is_consensus_in_round_one(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with emitted(project) as events:
            first = take(ann, debate, supports="P1")
        assert events == TURN_TAKEN
        assert first.closed is None
        assert fresh(debate).status == "open"
        with emitted(project) as events:
            last = take(bob, debate, supports="p1")
        assert events == CONSENSUS
        assert last.closed is not None
        assert (last.closed.number, last.closed.tally.outcome) == (1, "consensus")
        debate = fresh(debate)
        assert debate.status == "consensus"
        assert (debate.decision_kind, debate.decided_by) == ("consensus", "consensus")
        assert debate.decided_proposal is not None
        assert debate.decided_proposal.label == "P1"
        assert debate.decision == SESSIONS
        assert debate.dissent == []
        assert debate.closed_at is not None
        assert debate.round_deadline is None
        assert debate.resulting_version is None
        assert rounds_of(debate) == [(1, "turns", "consensus")]
        tally = DebateRound.objects.get(debate=debate, number=1).tally
        assert tally["stances"] == {"ann": "P1", "bob": "P1"}
        assert tally["consensus_on"] == "P1"
        assert debate_deltas(debate)[-1].summary == (f"Debate #{debate.pk} reached consensus on P1")

    def test_consensus_after_a_counter_proposal_comes_in_round_two(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        with emitted(project) as events:
            closing = take(
                bob,
                debate,
                proposal=JWT,
                objections=[{"proposal": "P1", "text": "A lookup on every request."}],
            )
        assert events == NEXT_ROUND
        assert closing.closed is not None
        assert closing.closed.tally.outcome == "next_round"
        debate = fresh(debate)
        assert (debate.status, debate.current_round, debate.is_blind) == ("open", 2, False)
        assert rounds_of(debate) == [(1, "turns", "next_round"), (2, "", "")]
        assert debate_deltas(debate)[-1].summary == (
            f"Debate #{debate.pk}: round 1 closed without consensus; round 2 is open"
        )
        # Ann concedes to bob's proposal: she owes no answer to the objection against P1.
        conceding = take(ann, debate, supports="P2")
        assert conceding.turn.moved is True
        with emitted(project) as events:
            last = take(bob, debate, supports="P2")
        assert events == CONSENSUS
        assert last.turn.moved is False
        debate = fresh(debate)
        assert debate.status == "consensus"
        assert debate.decision == JWT
        assert rounds_of(debate) == [(1, "turns", "next_round"), (2, "turns", "consensus")]
        assert DebateRound.objects.get(debate=debate, number=2).tally["moved"] == ["ann"]

    def test_three_participants_reach_consensus_only_when_the_third_agrees(
        self, project: Project, ann: Agent, bob: Agent, cy: Agent
    ) -> None:
        debate = open_free(ann, bob, cy, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(cy, debate, supports="P1")
        assert take(bob, debate, proposal=JWT).closed is not None
        assert stances(debate, 1) == {"ann": "P1", "bob": "P2", "cy": "P1"}
        take(ann, debate, supports="P1")
        take(bob, debate, supports="P1")
        shape = debate_as_dict(fresh(debate), ann)
        assert (shape["status"], shape["awaiting"]) == ("open", ["cy"])
        last = take(cy, debate, supports="P1")
        assert last.closed is not None
        assert last.closed.tally.support() == {1: ["ann", "bob", "cy"]}
        assert fresh(debate).status == "consensus"


# Escalation --------------------------------------------------------------------------------


class TestEscalation:
    def test_without_consensus_the_debate_escalates_after_exactly_the_configured_rounds(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT)
        take(ann, debate, proposal=HYBRID)
        take(bob, debate, supports="P2")
        assert (fresh(debate).status, fresh(debate).current_round) == ("open", 3)
        take(ann, debate, supports="P3")
        with emitted(project) as events:
            last = take(bob, debate, proposal=MTLS)
        assert events == ESCALATION
        assert last.closed is not None
        assert (last.closed.tally.outcome, last.closed.tally.escalation_reason) == (
            "escalated",
            "max_rounds",
        )
        debate = fresh(debate)
        assert (debate.status, debate.escalation_reason) == ("escalated", "max_rounds")
        assert debate.current_round == 3
        assert debate.escalated_at is not None
        assert debate.round_deadline is None
        assert rounds_of(debate) == [
            (1, "turns", "next_round"),
            (2, "turns", "next_round"),
            (3, "turns", "escalated"),
        ]
        delta = debate_deltas(debate)[-1]
        assert delta.summary == (
            f"Debate #{debate.pk} escalated to a human: no consensus after the last round"
        )
        assert delta.agents == ["ann", "bob"]
        event = project.events.get(type="debate.escalated")
        assert event.payload == {"reason": "max_rounds", "round": 3}

    def test_the_escalation_carries_a_structured_summary_of_the_whole_debate(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1", rationale="Revocation must be instant.")
        take(bob, debate, proposal=JWT, rationale="No lookup per request.")
        take(ann, debate, proposal=HYBRID, rationale="Both needs, one design.")
        take(bob, debate, supports="P2", rationale="Still no lookup.")
        take(ann, debate, supports="P3", rationale="Hybrid it is.")
        take(bob, debate, proposal=MTLS, rationale="Certificates for services.")
        debate = fresh(debate)
        assert debate.summary_source == "structured"
        assert debate.compromise == ""
        summary = debate.summary
        assert summary.startswith(f"# Debate {debate.pk} escalated to a human")
        assert "no consensus after the last round (3 rounds held)" in summary
        for label, author, text in [
            ("P1", "agent:ann", SESSIONS),
            ("P2", "agent:bob", JWT),
            ("P3", "agent:ann", HYBRID),
            ("P4", "agent:bob", MTLS),
        ]:
            assert f"### {label} by {author}" in summary
            assert text in summary
        assert "Hybrid it is." in summary
        assert "Certificates for services." in summary
        escalation = debate_as_dict(debate, None)["escalation"]
        assert escalation["reason"] == "max_rounds"
        assert escalation["summary"] == summary
        assert escalation["summary_source"] == "structured"

    def test_no_stance_moving_for_two_rounds_escalates_early_as_a_stalemate(
        self, ann: Agent, bob: Agent
    ) -> None:
        configure(ann.project, max_debate_rounds=5)
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT)
        take(ann, debate, supports="P1")
        assert outcome(take(bob, debate, supports="P2")) == ("next_round", "")
        assert fresh(debate).status == "open"
        take(ann, debate, supports="P1")
        last = take(bob, debate, supports="P2")
        assert last.closed is not None
        assert (last.closed.tally.outcome, last.closed.tally.escalation_reason) == (
            "escalated",
            "stalemate",
        )
        debate = fresh(debate)
        assert (debate.status, debate.escalation_reason, debate.current_round) == (
            "escalated",
            "stalemate",
            3,
        )
        assert "stalemate" in debate.summary
        assert debate_deltas(debate)[-1].summary == (
            f"Debate #{debate.pk} escalated to a human: a stalemate: no stance moved for two rounds"
        )

    def test_a_stalemate_runs_to_the_last_round_when_the_project_does_not_escalate_early(
        self,
    ) -> None:
        project = debating_project(rounds=5, stalemate_escalates=False)
        ann, bob = make_agent(project, "ann")[0], make_agent(project, "bob")[0]
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT)
        for number in (2, 3, 4):
            take(ann, debate, supports="P1")
            assert outcome(take(bob, debate, supports="P2")) == ("next_round", "")
            assert fresh(debate).current_round == number + 1
        take(ann, debate, supports="P1")
        last = take(bob, debate, supports="P2")
        assert last.closed is not None
        assert last.closed.tally.escalation_reason == "max_rounds"
        assert (fresh(debate).status, fresh(debate).current_round) == ("escalated", 5)


# A human's decisions -----------------------------------------------------------------------


@dataclass
class Escalated:
    debate: Debate
    ann: Agent
    bob: Agent
    cy: Agent


@pytest.fixture
def escalated(project: Project, ann: Agent, bob: Agent, cy: Agent) -> Escalated:
    """Three rounds without consensus: ann ends on P1; bob and cy on P2 (cy moved there)."""
    debate = open_free(ann, bob, cy, proposal=SESSIONS)
    take(ann, debate, supports="P1", rationale="Instant revocation.")
    take(bob, debate, proposal=JWT, rationale="Stateless.")
    take(cy, debate, proposal=HYBRID, rationale="Both.")
    take(ann, debate, supports="P1", rationale="Instant revocation.")
    take(bob, debate, supports="P2", rationale="Stateless.")
    take(cy, debate, supports="P2", rationale="Bob convinced me.")
    take(ann, debate, supports="P1", rationale="Revocation still matters most.")
    take(bob, debate, supports="P2", rationale="Stateless.")
    take(cy, debate, supports="P2", rationale="Stateless is simpler.")
    assert fresh(debate).status == "escalated"
    return Escalated(fresh(debate), ann, bob, cy)


ANN_DISSENT = {
    "agent": "ann",
    "stance": "P1",
    "position": SESSIONS,
    "rationale": "Revocation still matters most.",
}


class TestHumanDecisions:
    def test_a_lead_accepting_a_proposal_resolves_the_debate_and_records_the_dissent(
        self, project: Project, escalated: Escalated
    ) -> None:
        with emitted(project) as events:
            debate = accept_proposal(
                debate=escalated.debate, actor=lead("maria"), proposal="p2", reason="Simplest."
            )
        assert events == ["debate.decided", "delta.pushed"]
        debate = fresh(debate)
        assert debate.status == "resolved"
        assert (debate.decision_kind, debate.decided_by, debate.decision_reason) == (
            "accepted",
            "user:maria",
            "Simplest.",
        )
        assert debate.decided_proposal is not None
        assert debate.decided_proposal.label == "P2"
        assert debate.decision == JWT
        assert debate.dissent == [ANN_DISSENT]
        assert debate.resulting_version is None
        event = project.events.get(type="debate.decided")
        assert event.actor == "user:maria"
        assert event.payload["dissent"] == ["ann"]
        assert debate_deltas(debate)[-1].summary == (
            f"Debate #{debate.pk} decided: user:maria accepted P2"
        )
        decision = debate_as_dict(debate, escalated.bob)["decision"]
        assert decision["kind"] == "accepted"
        assert decision["dissent"] == [ANN_DISSENT]

    def test_a_lead_deciding_on_an_edited_proposal_keeps_who_stood_elsewhere_as_dissent(
        self, project: Project, escalated: Escalated
    ) -> None:
        edited = JWT + " Revocation lists are checked for admin tokens."
        with emitted(project) as events:
            debate = decide_edited(
                debate=escalated.debate, actor=lead("maria"), text=edited, based_on="P2"
            )
        assert events == ["debate.decided", "delta.pushed"]
        debate = fresh(debate)
        assert (debate.status, debate.decision_kind, debate.decision) == (
            "resolved",
            "edited",
            edited,
        )
        assert debate.decided_proposal is not None
        assert debate.decided_proposal.label == "P2"
        assert debate.dissent == [ANN_DISSENT]

    def test_an_edited_decision_based_on_no_proposal_has_everyone_dissenting(
        self, escalated: Escalated
    ) -> None:
        debate = decide_edited(debate=escalated.debate, actor=lead(), text="Use passkeys.")
        assert fresh(debate).decided_proposal is None
        assert [(d["agent"], d["stance"]) for d in fresh(debate).dissent] == [
            ("ann", "P1"),
            ("bob", "P2"),
            ("cy", "P2"),
        ]

    def test_a_lead_rejecting_every_proposal_closes_the_debate_with_each_last_position(
        self, project: Project, escalated: Escalated
    ) -> None:
        with emitted(project) as events:
            debate = reject_proposals(
                debate=escalated.debate, actor=lead("maria"), reason="Out of scope."
            )
        assert events == ["debate.decided", "delta.pushed"]
        debate = fresh(debate)
        assert (debate.status, debate.decision_kind, debate.decision) == (
            "resolved",
            "rejected",
            "",
        )
        assert debate.decided_proposal is None
        assert debate.dissent == [
            ANN_DISSENT,
            {"agent": "bob", "stance": "P2", "position": JWT, "rationale": "Stateless."},
            {"agent": "cy", "stance": "P2", "position": JWT, "rationale": "Stateless is simpler."},
        ]

    def test_rejecting_needs_a_reason(self, escalated: Escalated) -> None:
        with refused(ValidationFailed, "empty_the_reason"):
            reject_proposals(debate=escalated.debate, actor=lead(), reason="  ")

    def test_returning_with_guidance_opens_a_fresh_blind_set_of_rounds(
        self, project: Project, escalated: Escalated
    ) -> None:
        ann, bob, cy = escalated.ann, escalated.bob, escalated.cy
        guidance = "Revocation within a minute is a must; find a design with it."
        with emitted(project) as events:
            debate = return_to_agents(
                debate=escalated.debate, actor=lead("maria"), guidance=guidance
            )
        assert events == ["debate.returned", "delta.pushed"]
        debate = fresh(debate)
        assert (debate.status, debate.current_round, debate.cycle_start) == ("open", 4, 4)
        assert (debate.round_in_set, debate.is_blind) == (1, True)
        assert debate.guidance == guidance
        assert debate.escalated_at is None
        assert rounds_of(debate)[-1] == (4, "", "")
        delta = debate_deltas(debate)[-1]
        assert guidance in delta.body
        assert delta.agents == ["ann", "bob", "cy"]
        shape = debate_as_dict(debate, ann)
        assert (shape["guidance"], shape["blind"], shape["your_turn"]) == (guidance, True, True)
        assert shape["escalation"] is None

        # The new set's first round is blind again: bob's new proposal stays hidden in it.
        take(bob, debate, proposal=JWT + " Plus a revocation list checked every minute.")
        assert "P4" not in seen(debate, ann)["proposals"]
        with refused(ValidationFailed, "unknown_proposal"):
            take(ann, debate, supports="P4")
        take(ann, debate, supports="P2")
        assert take(cy, debate, supports="P2").closed is not None
        assert "P4" in seen(debate, ann)["proposals"]

        # A fresh set has the configured rounds again: escalation after round 6, not before.
        take(ann, debate, supports="P2")
        take(bob, debate, supports="P4")
        take(cy, debate, supports="P4")
        assert (fresh(debate).status, fresh(debate).current_round) == ("open", 6)
        take(ann, debate, supports="P2")
        take(bob, debate, supports="P4")
        assert outcome(take(cy, debate, supports="P4")) == ("escalated", "max_rounds")
        assert (fresh(debate).status, fresh(debate).current_round) == ("escalated", 6)

    @pytest.mark.parametrize(
        "decide",
        [
            lambda debate, actor: accept_proposal(debate=debate, actor=actor, proposal="P2"),
            lambda debate, actor: decide_edited(debate=debate, actor=actor, text="Mine."),
            lambda debate, actor: reject_proposals(debate=debate, actor=actor, reason="No."),
            lambda debate, actor: return_to_agents(debate=debate, actor=actor, guidance="Go."),
        ],
        ids=["accept", "edit", "reject", "return"],
    )
    def test_agents_and_humans_who_are_not_leads_cannot_decide(
        self, escalated: Escalated, decide: Any
    ) -> None:
        with refused(PermissionDenied, "leads_only"):
            decide(escalated.debate, Actor.for_agent(escalated.bob))
        with refused(PermissionDenied, "role_required"):
            decide(escalated.debate, Actor.for_user(make_user(staff=False)))
        viewer = make_user(staff=False)
        Membership.objects.create(project=escalated.debate.project, user=viewer, role="viewer")
        with refused(PermissionDenied, "role_required") as info:
            decide(escalated.debate, Actor.for_user(viewer))
        assert info.value.details["needs_role"] == "lead"

    def test_a_lead_of_the_project_who_is_not_staff_decides(self, escalated: Escalated) -> None:
        lead_user = make_user(username="lena", staff=False)
        Membership.objects.create(project=escalated.debate.project, user=lead_user, role="lead")
        debate = return_to_agents(
            debate=escalated.debate, actor=Actor.for_user(lead_user), guidance="Try sessions."
        )
        assert debate.status == "open"

    @pytest.mark.parametrize(
        "decide",
        [
            lambda debate, actor: accept_proposal(debate=debate, actor=actor, proposal="P1"),
            lambda debate, actor: decide_edited(debate=debate, actor=actor, text="Mine."),
            lambda debate, actor: reject_proposals(debate=debate, actor=actor, reason="No."),
            lambda debate, actor: return_to_agents(debate=debate, actor=actor, guidance="Go."),
        ],
        ids=["accept", "edit", "reject", "return"],
    )
    def test_a_debate_that_is_not_escalated_cannot_be_decided_by_a_human(
        self, project: Project, ann: Agent, bob: Agent, decide: Any
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(Conflict, "debate_not_escalated") as info:
            decide(debate, lead())
        assert "is open" in info.value.message

    def test_a_resolved_debate_cannot_be_decided_again(self, escalated: Escalated) -> None:
        accept_proposal(debate=escalated.debate, actor=lead(), proposal="P2")
        with refused(Conflict, "debate_not_escalated"):
            reject_proposals(debate=escalated.debate, actor=lead(), reason="Changed my mind.")

    def test_accepting_a_proposal_the_debate_does_not_have_is_refused(
        self, escalated: Escalated
    ) -> None:
        with refused(ValidationFailed, "unknown_proposal") as info:
            accept_proposal(debate=escalated.debate, actor=lead(), proposal="P9")
        assert "P1, P2, P3" in info.value.message


# Withdrawal --------------------------------------------------------------------------------


class TestWithdrawal:
    def test_the_initiator_withdraws_an_open_debate(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(bob, debate, proposal=JWT)
        with emitted(project) as events:
            withdraw_debate(debate=debate, actor=Actor.for_agent(ann), reason="Settled offline.")
        assert events == ["debate.withdrawn", "delta.pushed"]
        debate = fresh(debate)
        assert debate.status == "withdrawn"
        assert (debate.decided_by, debate.decision_reason) == ("agent:ann", "Settled offline.")
        assert debate.closed_at is not None
        assert debate.round_deadline is None
        assert rounds_of(debate) == [(1, "withdrawn", "withdrawn")]
        delta = debate_deltas(debate)[-1]
        assert delta.summary == f"Debate #{debate.pk} withdrawn by agent:ann"
        assert delta.body == "Reason: Settled offline."

    def test_another_participant_cannot_withdraw_it(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(PermissionDenied, "not_the_initiator") as info:
            withdraw_debate(debate=debate, actor=Actor.for_agent(bob))
        assert "agent:ann" in info.value.message

    def test_a_human_lead_may_withdraw_it_and_a_human_without_the_right_may_not(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(PermissionDenied, "role_required"):
            withdraw_debate(debate=debate, actor=Actor.for_user(make_user(staff=False)))
        withdraw_debate(debate=debate, actor=lead("maria"))
        assert (fresh(debate).status, fresh(debate).decided_by) == ("withdrawn", "user:maria")

    def test_an_escalated_debate_cannot_be_withdrawn(self, escalated: Escalated) -> None:
        with refused(Conflict, "debate_not_open"):
            withdraw_debate(debate=escalated.debate, actor=Actor.for_agent(escalated.ann))


# Deadlines ---------------------------------------------------------------------------------


class TestDeadlines:
    def test_after_the_deadline_a_silent_participant_holds_its_last_stance(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT)
        take(ann, debate, supports="P1")
        now = deadline_passed(debate)
        with emitted(project) as events:
            assert close_overdue_rounds(now=now) == 1
        assert events == ["debate.round_closed", "delta.pushed"]
        silent = Turn.objects.get(debate=debate, round_number=2, agent=bob)
        assert (silent.kind, silent.stance.label if silent.stance else None, silent.moved) == (
            "silent",
            "P2",
            False,
        )
        round_two = DebateRound.objects.get(debate=debate, number=2)
        assert (round_two.closed_by, round_two.closed_at) == ("deadline", now)
        assert round_two.tally["silent"] == ["bob"]
        assert round_two.tally["stances"] == {"ann": "P1", "bob": "P2"}
        debate = fresh(debate)
        assert debate.current_round == 3
        assert debate.round_deadline == now + timedelta(seconds=3600)
        assert "Silent (counted as holding): bob." in debate_deltas(debate)[-1].body

    def test_a_silent_participant_holding_the_proposal_the_others_now_support_is_consensus(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT)
        take(ann, debate, supports="P2")
        assert close_overdue_rounds(now=deadline_passed(debate)) == 1
        debate = fresh(debate)
        assert (debate.status, debate.decision) == ("consensus", JWT)
        assert rounds_of(debate)[-1] == (2, "deadline", "consensus")

    def test_a_participant_silent_in_round_one_has_no_stance_so_there_is_no_consensus(
        self, project: Project, ann: Agent, bob: Agent, cy: Agent
    ) -> None:
        debate = open_free(ann, bob, cy, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, supports="P1")
        assert close_overdue_rounds(now=deadline_passed(debate)) == 1
        silent = Turn.objects.get(debate=debate, round_number=1, agent=cy)
        assert (silent.kind, silent.stance, silent.moved) == ("silent", None, None)
        debate = fresh(debate)
        assert (debate.status, debate.current_round) == ("open", 2)
        tally = DebateRound.objects.get(debate=debate, number=1).tally
        assert (tally["outcome"], tally["stances"]["cy"]) == ("next_round", None)

    def test_the_silent_author_of_the_opening_proposal_stands_for_it(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(bob, debate, supports="P1")
        assert close_overdue_rounds(now=deadline_passed(debate)) == 1
        assert stances(debate, 1) == {"ann": "P1", "bob": "P1"}
        assert fresh(debate).status == "consensus"

    def test_a_round_already_closed_is_not_closed_twice(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        now = deadline_passed(debate)
        assert close_overdue_rounds(now=now) == 1
        before = DebateRound.objects.get(debate=debate, number=1).closed_at
        with emitted(project) as events:
            assert close_overdue_rounds(now=now) == 0
        assert events == []
        assert DebateRound.objects.get(debate=debate, number=1).closed_at == before
        assert Turn.objects.filter(debate=debate, round_number=1).count() == 2
        assert len(round_closed_events(debate)) == 1

    def test_nothing_closes_before_the_deadline_or_in_a_debate_that_is_no_longer_open(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        waiting = open_free(ann, bob, proposal=SESSIONS)
        agreed = open_free(ann, bob, proposal=JWT)
        take(ann, agreed, supports="P1")
        take(bob, agreed, supports="P1")
        withdrawn = open_free(ann, bob)
        withdraw_debate(debate=withdrawn, actor=Actor.for_agent(ann))
        assert close_overdue_rounds(now=fresh(waiting).round_deadline) == 0
        assert close_overdue_rounds(now=timezone.now() + timedelta(days=30)) == 1
        assert rounds_of(agreed) == [(1, "turns", "consensus")]
        assert rounds_of(withdrawn) == [(1, "withdrawn", "withdrawn")]

    def test_a_silent_last_round_escalates_by_deadline(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT)
        take(ann, debate, proposal=HYBRID)
        take(bob, debate, supports="P2")
        with emitted(project) as events:
            assert close_overdue_rounds(now=deadline_passed(debate)) == 1
        assert events == ["debate.escalated", "debate.round_closed", "delta.pushed"]
        assert (fresh(debate).status, fresh(debate).escalation_reason) == (
            "escalated",
            "max_rounds",
        )


# The blind first round ---------------------------------------------------------------------


class TestBlindRound:
    def test_a_participant_sees_neither_the_others_turns_nor_their_proposals_until_it_closes(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(bob, debate, proposal=JWT, rationale="Stateless scales.")
        assert seen(debate, ann) == {"proposals": ["P1"], "turns": []}
        assert seen(debate, bob) == {"proposals": ["P1", "P2"], "turns": [(1, "bob")]}
        assert seen(debate, None) == {"proposals": ["P1", "P2"], "turns": [(1, "bob")]}
        shape = debate_as_dict(fresh(debate), ann)
        assert (shape["blind"], shape["awaiting"], shape["your_turn"]) == (True, ["ann"], True)
        assert "Stateless scales." not in str(shape)
        assert JWT not in str(shape)

        take(ann, debate, supports="P1")
        assert seen(debate, ann) == {
            "proposals": ["P1", "P2"],
            "turns": [(1, "ann"), (1, "bob")],
        }
        shape = debate_as_dict(fresh(debate), ann)
        assert shape["blind"] is False
        assert shape["stance_history"] == {"ann": ["P1"], "bob": ["P2"]}

    def test_a_proposal_made_in_the_blind_round_cannot_be_supported_or_opposed_in_it(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(bob, debate, proposal=JWT)
        with refused(ValidationFailed, "unknown_proposal") as info:
            take(ann, debate, supports="P2")
        assert info.value.details == {"visible": ["P1"]}
        with refused(ValidationFailed, "unknown_proposal"):
            take(
                ann,
                debate,
                proposal=HYBRID,
                objections=[{"proposal": "P2", "text": "Cannot revoke."}],
            )

    def test_the_event_log_keeps_a_blind_turn_secret_until_the_round_closes(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(bob, debate, proposal=JWT)
        (taken,) = project.events.filter(type="debate.turn_taken")
        assert taken.payload == {"round": 1, "blind": True}
        take(ann, debate, supports="P1")
        closed = project.events.get(type="debate.round_closed")
        assert closed.payload["stances"] == {"ann": "P1", "bob": "P2"}
        take(bob, debate, supports="P2")
        later = project.events.filter(type="debate.turn_taken").order_by("created_at").last()
        assert later is not None
        assert (later.payload["round"], later.payload["stance"]) == (2, "P2")

    def test_after_the_first_round_new_proposals_are_visible_at_once(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT)
        take(bob, debate, proposal=HYBRID)
        assert "P3" in seen(debate, ann)["proposals"]
        assert take(ann, debate, supports="P3").closed is not None
        assert fresh(debate).status == "consensus"


# What awaits an agent ----------------------------------------------------------------------


class TestLongProposals:
    def test_a_long_proposal_no_longer_in_play_reaches_agents_truncated_unless_asked_for(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        long_spec = "\n".join(f"field_{n}: string" for n in range(200))
        debate = open_free(ann, bob, proposal=long_spec)
        take(ann, debate, proposal=JWT)
        take(bob, debate, proposal=SESSIONS)

        def opening(shape: dict[str, Any]) -> dict[str, Any]:
            return next(p for p in shape["proposals"] if p["id"] == "P1")

        # Round 2: nobody stands for the opening proposal, and it is older than round 1.
        shape = debate_as_dict(fresh(debate), bob)
        p1 = opening(shape)
        assert (p1["truncated"], len(p1["text"])) == (True, 1_000)
        assert long_spec.startswith(p1["text"])
        assert all(not p["truncated"] for p in shape["proposals"] if p["id"] != "P1")
        assert opening(debate_as_dict(fresh(debate), bob, whole="p1"))["text"] == long_spec
        assert opening(debate_as_dict(fresh(debate), None))["text"] == long_spec

        # Back in play (here: decided), it is whole again.
        take(ann, debate, supports="P1")
        take(bob, debate, supports="P1")
        assert fresh(debate).status == "consensus"
        assert opening(debate_as_dict(fresh(debate), bob))["text"] == long_spec


class TestDeletion:
    def test_a_project_whose_debates_have_turns_can_still_be_deleted(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT)
        delete_project(project=project, actor=lead())
        assert not Debate.objects.filter(pk=debate.pk).exists()
        assert not Turn.objects.filter(debate_id=debate.pk).exists()


class TestAwaiting:
    def test_awaiting_counts_the_open_debates_whose_round_waits_for_the_agent(
        self, project: Project, ann: Agent, bob: Agent, cy: Agent
    ) -> None:
        first = open_free(ann, bob, proposal=SESSIONS)
        second = open_free(bob, ann, cy)
        open_free(bob, cy)
        assert (awaiting_count(ann), awaiting_count(bob), awaiting_count(cy)) == (2, 3, 2)
        take(ann, first, supports="P1")
        assert awaiting_count(ann) == 1
        assert list(debates_of(project, awaiting=ann)) == [second]
        take(bob, first, proposal=JWT)  # closes round 1: round 2 awaits ann again
        assert awaiting_count(ann) == 2
        take(ann, first, supports="P2")
        take(bob, first, supports="P2")  # consensus: nothing more to wait for
        assert awaiting_count(ann) == 1
        assert awaiting_count(make_agent(project, "dee")[0]) == 0


class TestListing:
    def test_debates_are_listed_escalated_first_then_open_then_closed_newest_first(
        self, project: Project, ann: Agent, bob: Agent, cy: Agent
    ) -> None:
        agreed = open_free(ann, bob, proposal=SESSIONS)
        take(ann, agreed, supports="P1")
        take(bob, agreed, supports="P1")
        older = open_free(ann, bob)
        configure(project, max_debate_rounds=1)
        stuck = open_free(ann, cy, proposal=SESSIONS)
        take(ann, stuck, supports="P1")
        take(cy, stuck, proposal=JWT)
        newer = open_free(bob, cy)
        assert list(debates_of(project)) == [stuck, newer, older, agreed]
        assert list(debates_of(project, status="open")) == [newer, older]
        assert list(debates_of(project, participant=ann)) == [stuck, older, agreed]
        assert list(debates_of(project, awaiting=ann)) == [older]

    def test_an_unknown_status_is_refused_with_the_known_ones(self, project: Project) -> None:
        with pytest.raises(ValidationFailed) as info:
            debates_of(project, status="closed")
        assert info.value.code == "unknown_status"
        assert "escalated" in info.value.message

    def test_briefs_say_who_the_current_round_still_waits_for(
        self, project: Project, ann: Agent, bob: Agent, cy: Agent
    ) -> None:
        first = open_free(ann, bob, cy, proposal=SESSIONS)
        second = open_free(bob, cy)
        take(ann, first, supports="P1")
        take(bob, second, proposal=JWT)
        take(cy, second, proposal=HYBRID)
        shapes = {shape["id"]: shape for shape in briefs(debates_of(project))}
        assert (shapes[first.pk]["awaiting"], shapes[first.pk]["blind"]) == (["bob", "cy"], True)
        assert (shapes[second.pk]["round"], shapes[second.pk]["blind"]) == (2, False)
        assert shapes[second.pk]["awaiting"] == ["bob", "cy"]
        assert shapes[first.pk]["participants"] == ["ann", "bob", "cy"]

    def test_a_debate_of_another_project_is_not_found(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob)
        with pytest.raises(NotFound) as info:
            get_debate(project=make_project(), debate_id=debate.pk)
        assert info.value.code == "unknown_debate"
        assert get_debate(project=project, debate_id=debate.pk) == debate


# Refused turns -----------------------------------------------------------------------------


class TestRefusedTurns:
    def test_an_agent_that_is_not_a_participant_cannot_take_a_turn(
        self, project: Project, ann: Agent, bob: Agent, cy: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(PermissionDenied, "not_a_participant"):
            take(cy, debate, supports="P1")

    def test_an_agent_of_another_project_cannot_reach_the_debate(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        stranger, _ = make_agent(make_project(), "stranger")
        with refused(NotFound, "unknown_debate"):
            take(stranger, debate, supports="P1")

    def test_a_second_turn_in_the_same_round_is_refused(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        with refused(Conflict, "turn_already_taken"):
            take(ann, debate, proposal=JWT)

    def test_a_retried_turn_is_replayed_and_counted_once(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        first = take(ann, debate, proposal=JWT, key="ann-turn-1", rationale="Stateless.")
        with unchanged():
            again = take(ann, debate, proposal=JWT, key="ann-turn-1", rationale="Stateless.")
        assert (first.replayed, again.replayed) == (False, True)
        assert again.turn.pk == first.turn.pk
        assert again.closed is None
        assert Turn.objects.filter(debate=debate, agent=ann).count() == 1
        assert Proposal.objects.filter(debate=debate).count() == 2

    def test_a_retry_of_the_turn_that_closed_a_round_is_replayed_after_the_round_moved_on(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT, key="bob-1")
        with unchanged():
            again = take(bob, debate, proposal=JWT, key="bob-1")
        assert again.replayed
        assert again.turn.round_number == 1
        assert fresh(debate).current_round == 2
        # A client that lost the first answer still learns how its round closed.
        assert again.closed is not None
        assert (again.closed.number, again.closed.tally.outcome) == (1, "next_round")
        assert again.closed.tally.stances == {"ann": 1, "bob": 2}

    def test_the_same_client_key_with_different_content_is_refused(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, proposal=JWT, key="ann-turn-1")
        with refused(Conflict, "client_key_reused") as info:
            take(ann, debate, proposal=HYBRID, key="ann-turn-1")
        assert "ann-turn-1" in info.value.message

    @pytest.mark.parametrize(
        "restated",
        [
            SESSIONS,
            SESSIONS.upper(),
            "  issue OPAQUE session-tokens, stored server-side: revoke a token by deleting its "
            "row!!",
        ],
        ids=["same", "shouted", "respaced"],
    )
    def test_restating_your_own_opening_proposal_is_refused(
        self, project: Project, ann: Agent, bob: Agent, restated: str
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(ValidationFailed, "restated_proposal") as info:
            take(ann, debate, proposal=restated)
        assert "propose an alternative or support one" in info.value.message
        assert info.value.details == {"proposal": "P1"}

    def test_restating_your_own_earlier_round_proposal_is_refused(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob)
        spec = " ".join(
            f"Rule {n}: tokens of kind {n} expire after {n} minutes." for n in range(40)
        )
        take(ann, debate, proposal=spec)
        take(bob, debate, proposal=JWT)
        # Case, punctuation and a filler word are no alternative.
        nearly = spec.replace("Rule 7: tokens", "RULE 7 - the tokens")
        with refused(ValidationFailed, "restated_proposal") as info:
            take(ann, debate, proposal=nearly)
        assert "propose an alternative or support one" in info.value.message
        assert "your own proposal P1" in info.value.message

    def test_a_turn_written_for_a_round_that_has_closed_is_refused(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(bob, debate, proposal=JWT)
        # Ann read round 1, but its deadline passed while she wrote: she was silent in it.
        assert close_overdue_rounds(now=deadline_passed(debate)) == 1
        with refused(Conflict, "round_moved_on") as info:
            take(ann, debate, supports="P1", round_number=1)
        assert "round 2 now" in info.value.message
        assert take(ann, debate, supports="P1", round_number=2).turn.round_number == 2

    def test_restating_anothers_visible_proposal_is_refused_with_advice_to_support_it(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(ValidationFailed, "duplicate_proposal") as info:
            take(bob, debate, proposal=SESSIONS.lower())
        assert "support P1 instead" in info.value.message

    def test_supporting_a_proposal_that_does_not_exist_is_refused(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(ValidationFailed, "unknown_proposal") as info:
            take(ann, debate, supports="P9")
        assert "P1" in info.value.message

    def test_objecting_to_the_proposal_your_turn_stands_for_is_refused(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(ValidationFailed, "objection_to_own_stance"):
            take(ann, debate, supports="P1", objections=[{"proposal": "P1", "text": "Hm."}])

    @pytest.mark.parametrize("state", ["consensus", "escalated", "withdrawn"])
    def test_a_turn_on_a_closed_debate_is_refused(
        self, project: Project, ann: Agent, bob: Agent, state: str
    ) -> None:
        configure(project, max_debate_rounds=1)
        debate = open_free(ann, bob, proposal=SESSIONS)
        if state == "withdrawn":
            withdraw_debate(debate=debate, actor=Actor.for_agent(ann))
        else:
            take(ann, debate, supports="P1")
            if state == "consensus":
                take(bob, debate, supports="P1")
            else:
                take(bob, debate, proposal=JWT)
        assert fresh(debate).status == state
        with refused(Conflict, "debate_not_open") as info:
            take(bob, debate, proposal=HYBRID)
        assert f"is {state}" in info.value.message

    def test_objections_must_be_answered_by_those_standing_for_the_proposal(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        take(ann, debate, supports="P1")
        take(bob, debate, proposal=JWT, objections=[{"proposal": "P1", "text": "A DB hit."}])
        with refused(ValidationFailed, "objections_unanswered") as info:
            take(ann, debate, supports="P1")
        assert info.value.details == {"objections": ["O1"]}
        with refused(ValidationFailed, "unknown_objection"):
            take(ann, debate, supports="P1", answers=[{"objection": "O7", "response": "?"}])
        answered = take(
            ann,
            debate,
            supports="P1",
            answers=[{"objection": "o1", "response": "One indexed read is cheap."}],
            objections=[{"proposal": "P2", "text": "Cannot revoke a stolen token."}],
        )
        assert answered.turn.answers == [
            {"objection": "O1", "response": "One indexed read is cheap."}
        ]
        take(bob, debate, supports="P2", answers=[{"objection": "O1", "response": "Still."}])
        # The objection raised in round 2 is owed an answer in round 3.
        with refused(ValidationFailed, "objections_unanswered") as info:
            take(bob, debate, supports="P2")
        assert info.value.details == {"objections": ["O2"]}
        take(bob, debate, supports="P2", answers=[{"objection": "O2", "response": "Short TTL."}])

    def test_the_blind_round_has_nothing_to_answer(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(ValidationFailed, "nothing_to_answer"):
            take(ann, debate, supports="P1", answers=[{"objection": "O1", "response": "?"}])

    @pytest.mark.parametrize("actor", ["agent", "human"])
    def test_deltas_of_kind_debate_cannot_be_pushed_by_anyone_but_the_server(
        self, project: Project, ann: Agent, actor: str
    ) -> None:
        who = Actor.for_agent(ann) if actor == "agent" else lead()
        with refused(ValidationFailed, "debate_delta_reserved"):
            push_delta(project=project, actor=who, kind="debate", summary="We agreed on P1")


# Contract debates --------------------------------------------------------------------------


@dataclass
class Team:
    project: Project
    owner: Agent  # bob, on T2, which provides AuthAPI
    consumer: Agent  # alice, on T1, which consumes AuthAPI
    contract: Contract


@pytest.fixture
def team() -> Team:
    project = debating_project(rounds=1)
    bob, _ = agent_on(project, "T2", name="bob")
    contract = make_contract(project, "AuthAPI", owner="T2", spec="v1: POST /login")
    alice, _ = agent_on(project, "T1", name="alice", consumes=["AuthAPI"])
    return Team(project, bob, alice, contract)


def versions(contract: Contract) -> list[tuple[int, str, str]]:
    return [(v.number, v.author, v.spec) for v in contract.versions.order_by("number").all()]


def contract_debate(team: Team, proposal: str = JWT) -> Debate:
    return open_debate(
        project=team.project,
        actor=Actor.for_agent(team.consumer),
        topic="AuthAPI tokens",
        participants=["bob"],
        subject="contract",
        contract="AuthAPI",
        proposal=proposal,
    )


def escalated_contract_debate(team: Team) -> Debate:
    debate = contract_debate(team)
    take(team.consumer, debate, supports="P1")
    take(team.owner, debate, proposal=SESSIONS)
    assert fresh(debate).status == "escalated"
    return debate


class TestContractDebates:
    def test_consensus_publishes_the_next_contract_version_and_a_breaking_change(
        self, team: Team
    ) -> None:
        debate = contract_debate(team)
        assert debate.contract_version is not None
        assert debate.contract_version.number == 1
        take(team.consumer, debate, supports="P1")
        with emitted(team.project) as events:
            take(team.owner, debate, supports="P1")
        assert events == sorted([*CONSENSUS, "contract.version_published", "delta.pushed"])
        author = f"debate:{debate.pk}"
        assert [v[0] for v in versions(team.contract)] == [1, 2]
        assert versions(team.contract)[-1] == (2, author, JWT)
        debate = fresh(debate)
        assert debate.resulting_version is not None
        assert debate.resulting_version.number == 2
        change = Delta.objects.get(project=team.project, kind="contract_change")
        assert (change.significance, change.contracts, change.author_label) == (
            "breaking",
            ["AuthAPI"],
            author,
        )
        assert change.contract_version == debate.resulting_version
        decided = debate_deltas(debate)[-1]
        assert decided.seq == change.seq + 1
        assert "AuthAPI is now at version 2" in decided.body
        assert debate_as_dict(debate, team.owner)["decision"]["contract_version"] == 2

    def test_a_decision_names_the_versions_published_while_the_debate_ran(self, team: Team) -> None:
        debate = contract_debate(team)
        publish_contract_version(
            contract=team.contract, spec="POST /login v2", rationale="meanwhile", actor=SYSTEM
        )
        take(team.consumer, debate, supports="P1")
        take(team.owner, debate, supports="P1")
        newest = team.contract.versions.order_by("-number").first()
        assert newest is not None
        assert (newest.number, newest.spec) == (3, JWT)
        assert "on version 1" in newest.rationale
        assert "Version 2 was published while it ran" in newest.rationale
        change = Delta.objects.get(project=team.project, kind="contract_change")
        assert "Version 2 was published while it ran" in change.body

    def test_a_lead_accepting_a_proposal_publishes_it_as_the_next_version(self, team: Team) -> None:
        debate = escalated_contract_debate(team)
        with emitted(team.project) as events:
            accept_proposal(debate=debate, actor=lead(), proposal="P2")
        assert events == [
            "contract.version_published",
            "debate.decided",
            "delta.pushed",
            "delta.pushed",
        ]
        assert versions(team.contract)[-1] == (2, f"debate:{debate.pk}", SESSIONS)
        assert fresh(debate).resulting_version == team.contract.versions.get(number=2)
        change = Delta.objects.get(project=team.project, kind="contract_change")
        assert change.significance == "breaking"
        assert change.contract_version is not None
        assert change.contract_version.number == 2

    def test_a_lead_deciding_on_an_edit_publishes_the_edited_text(self, team: Team) -> None:
        debate = escalated_contract_debate(team)
        edited = SESSIONS + " Sessions expire after eight idle hours."
        decide_edited(debate=debate, actor=lead(), text=edited, based_on="P2")
        assert versions(team.contract)[-1] == (2, f"debate:{debate.pk}", edited)
        change = Delta.objects.get(project=team.project, kind="contract_change")
        assert change.significance == "breaking"
        assert change.contract_version == team.contract.versions.get(number=2)

    def test_rejecting_every_proposal_leaves_the_contract_as_it_was(self, team: Team) -> None:
        debate = escalated_contract_debate(team)
        with emitted(team.project) as events:
            reject_proposals(debate=debate, actor=lead(), reason="Keep v1.")
        assert events == ["debate.decided", "delta.pushed"]
        assert [v[0] for v in versions(team.contract)] == [1]
        assert fresh(debate).resulting_version is None
        assert not Delta.objects.filter(project=team.project, kind="contract_change").exists()

    def test_a_non_owners_proposed_spec_becomes_a_debate_with_the_owner_in_one_call(
        self, team: Team
    ) -> None:
        proposal = push(
            team.project,
            team.consumer,
            kind="contract_change",
            contracts=["AuthAPI"],
            summary="Login should return JWTs",
            spec=JWT,
        ).delta
        assert proposal.proposed_spec == JWT
        assert proposal.contract_version is None
        assert [v[0] for v in versions(team.contract)] == [1]

        debate = open_debate_from_proposal(
            project=team.project, actor=Actor.for_agent(team.consumer), seq=proposal.seq
        )
        debate = fresh(debate)
        assert sorted(a.name for a in debate.participants.all()) == ["alice", "bob"]
        assert (debate.subject_kind, debate.contract, debate.source_delta_seq) == (
            "contract",
            team.contract,
            proposal.seq,
        )
        assert debate.contract_version is not None
        assert debate.contract_version.number == 1
        assert debate.topic == "AuthAPI: Login should return JWTs"
        (opening,) = Proposal.objects.filter(debate=debate)
        assert (opening.label, opening.author, opening.author_label, opening.text) == (
            "P1",
            team.consumer,
            "agent:alice",
            JWT,
        )
        assert debate_as_dict(debate, team.owner)["source_delta_seq"] == proposal.seq

        take(team.owner, debate, supports="P1")
        take(team.consumer, debate, supports="P1")
        assert versions(team.contract)[-1] == (2, f"debate:{debate.pk}", JWT)

    def test_the_participants_are_told_the_proposed_spec_is_the_opening_proposal(
        self, team: Team
    ) -> None:
        seq = push(
            team.project, team.consumer, kind="contract_change", contracts=["AuthAPI"], spec=JWT
        ).delta.seq
        debate = open_debate_from_proposal(
            project=team.project, actor=Actor.for_agent(team.consumer), seq=seq
        )
        assert team.project.events.get(type="debate.opened").payload["opening_proposal"] is True
        assert "The opening proposal is P1" in debate_deltas(debate)[0].body

    def test_a_long_contract_name_and_summary_still_make_a_default_topic(self, team: Team) -> None:
        name = "Auth" + "x" * 116
        make_contract(team.project, name, owner="T2")
        summary = "Login should return JWTs " + "y" * 170
        seq = push(
            team.project,
            team.consumer,
            kind="contract_change",
            contracts=[name],
            summary=summary,
            spec=JWT,
        ).delta.seq
        debate = open_debate_from_proposal(project=team.project, actor=lead(), seq=seq)
        assert debate.topic.startswith(name)
        assert len(debate.topic) <= 300

    def test_a_human_lead_may_open_the_debate_on_a_proposal(self, team: Team) -> None:
        seq = push(
            team.project, team.consumer, kind="contract_change", contracts=["AuthAPI"], spec=JWT
        ).delta.seq
        debate = open_debate_from_proposal(project=team.project, actor=lead(), seq=seq)
        assert sorted(a.name for a in debate.participants.all()) == ["alice", "bob"]
        assert debate.initiator is None

    def test_asking_again_returns_the_live_debate_instead_of_opening_another(
        self, team: Team
    ) -> None:
        seq = push(
            team.project, team.consumer, kind="contract_change", contracts=["AuthAPI"], spec=JWT
        ).delta.seq
        first = open_debate_from_proposal(
            project=team.project, actor=Actor.for_agent(team.consumer), seq=seq
        )
        again = open_debate_from_proposal(
            project=team.project, actor=Actor.for_agent(team.owner), seq=seq
        )
        assert again.pk == first.pk
        assert Debate.objects.filter(source_delta_seq=seq).count() == 1
        assert team.project.events.filter(type="debate.opened").count() == 1

    def test_a_delta_without_a_proposed_spec_is_not_a_proposal(self, team: Team) -> None:
        seq = push(
            team.project, team.consumer, kind="contract_change", contracts=["AuthAPI"]
        ).delta.seq
        with refused(ValidationFailed, "not_a_proposal"):
            open_debate_from_proposal(project=team.project, actor=lead(), seq=seq)


# Evidence ----------------------------------------------------------------------------------


class FixedSearch:
    """A search provider (our own ``SearchProvider`` protocol) answering from a fixed list."""

    name = "fixed-index"

    def __init__(self, *hits: search.SearchHit) -> None:
        self.hits = list(hits)
        self.queries: list[tuple[str, int]] = []

    def search(self, query: str, *, limit: int) -> list[search.SearchHit]:
        self.queries.append((query, limit))
        return self.hits[:limit]


REVOCATION = search.SearchHit(
    title="Revoking JWTs",
    url="https://example.org/jwt-revocation",
    snippet="Stateless tokens cannot be revoked before they expire.",
)
LOOKUPS = search.SearchHit(
    title="Session costs",
    url="https://example.org/sessions",
    snippet="A session lookup adds one indexed read per request.",
)


class TestEvidence:
    def test_a_hand_cited_quote_is_shown_to_the_others_once_the_round_closes(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        cited = {"url": "https://example.org/rfc7519", "quote": "JWTs are self-contained."}
        take(bob, debate, proposal=JWT, evidence=[cited])
        stored = Evidence.objects.get(debate=debate)
        assert (stored.url, stored.quote, stored.provider, stored.retrieved_at) == (
            cited["url"],
            cited["quote"],
            "",
            None,
        )
        assert "rfc7519" not in str(debate_as_dict(fresh(debate), ann))
        take(ann, debate, supports="P1")
        (bobs,) = [t for t in debate_as_dict(fresh(debate), ann)["turns"] if t["agent"] == "bob"]
        assert bobs["evidence"] == [
            {
                "url": cited["url"],
                "quote": cited["quote"],
                "provider": None,
                "query": None,
                "retrieved_at": None,
            }
        ]

    def test_a_cited_search_result_carries_provider_query_and_retrieval_time(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        provider = FixedSearch(REVOCATION, LOOKUPS)
        with emitted(project) as events:
            kept = search_web(agent=bob, query="  jwt revocation  ", limit=2, provider=provider)
        hits = kept.hits
        assert (kept.provider, kept.query) == ("fixed-index", "jwt revocation")
        assert events == ["search.performed"]
        assert provider.queries == [("jwt revocation", 2)]
        assert [(h.rank, h.url, h.provider, h.query) for h in hits] == [
            (1, REVOCATION.url, "fixed-index", "jwt revocation"),
            (2, LOOKUPS.url, "fixed-index", "jwt revocation"),
        ]
        assert all(h.pk is not None for h in hits)

        debate = open_free(ann, bob, proposal=SESSIONS)
        take(bob, debate, proposal=JWT)
        take(ann, debate, supports="P1", evidence=[{"search_result": hits[1].pk}])
        evidence = Evidence.objects.get(debate=debate)
        assert (evidence.url, evidence.quote, evidence.provider, evidence.query) == (
            LOOKUPS.url,
            LOOKUPS.snippet,
            "fixed-index",
            "jwt revocation",
        )
        assert evidence.retrieved_at == SearchHit.objects.get(pk=hits[1].pk).retrieved_at
        (annes,) = [t for t in debate_as_dict(fresh(debate), bob)["turns"] if t["agent"] == "ann"]
        assert annes["evidence"][0]["provider"] == "fixed-index"
        assert evidence.retrieved_at is not None
        assert annes["evidence"][0]["retrieved_at"] == evidence.retrieved_at.isoformat()

    def test_citing_a_search_result_of_another_project_or_none_at_all_is_refused(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        elsewhere, _ = make_agent(make_project(), "elsewhere")
        (foreign,) = search_web(
            agent=elsewhere, query="jwt", limit=1, provider=FixedSearch(REVOCATION)
        ).hits
        debate = open_free(ann, bob, proposal=SESSIONS)
        for cited in (foreign.pk, foreign.pk + 1000):
            with refused(ValidationFailed, "unknown_search_result"):
                take(ann, debate, supports="P1", evidence=[{"search_result": cited}])

    def test_evidence_must_be_a_web_page(self, project: Project, ann: Agent, bob: Agent) -> None:
        debate = open_free(ann, bob, proposal=SESSIONS)
        with refused(ValidationFailed, "bad_evidence_url"):
            take(
                ann,
                debate,
                supports="P1",
                evidence=[{"url": "javascript:alert(1)", "quote": "Click me."}],
            )
