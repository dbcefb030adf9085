"""Debates in the Django admin, used through Django's test client as a logged-in staff human:
the list (escalated first), the transcript page with every agent-written text escaped, and the
human decisions, each going through its service and recorded with the human's name."""

from __future__ import annotations

import re
from typing import Any

import anthropic
import httpx2
import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from debates import search, services
from debates.mediation import COMPROMISE_LABEL, SUBMIT_MEDIATION_TOOL
from debates.models import Debate, DebateStatus, DecisionKind, SearchHit
from debates.services import TurnResult
from peercode.actors import Actor
from peercode.events.models import Event
from projects.models import Agent, ContractVersion, Project
from projects.services import update_project
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_task, make_user

pytestmark = pytest.mark.django_db

SESSIONS = "Issue opaque session tokens stored server-side; revoke one by deleting its row."
JWTS = "Issue signed JWTs with a fifteen minute lifetime, and refresh tokens to renew them."
SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


class FixedSearch:
    """A web search provider that always finds the same page (the web is outside the test)."""

    name = "fixed-search"

    def search(self, query: str, *, limit: int) -> list[search.SearchHit]:
        return [
            search.SearchHit(
                title="Revoking JWTs",
                url="https://example.org/jwt-revocation",
                snippet="A signed token stays valid until it expires <b>unless</b> a denylist.",
            )
        ]


@pytest.fixture(autouse=True)
def no_mediator(settings: Any) -> None:
    # Escalation asks the AI mediator only with a key; these tests attach one explicitly.
    settings.ANTHROPIC_API_KEY = ""


@pytest.fixture
def client() -> Client:
    client = Client()
    client.force_login(make_user(username="ada"))
    return client


@pytest.fixture
def project() -> Project:
    # One round per set: a debate escalates as soon as its first round ends without consensus.
    return update_project(project=make_project(slug="shop"), actor=SYSTEM, max_debate_rounds=1)


@pytest.fixture
def ann(project: Project) -> Agent:
    return make_agent(project, "ann")[0]


@pytest.fixture
def bob(project: Project) -> Agent:
    return make_agent(project, "bob")[0]


def open_debate(
    project: Project, ann: Agent, topic: str = "Session format", **subject: Any
) -> Debate:
    """Ann opens a debate with Bob (an agent named bob must exist), proposing P1."""
    return services.open_debate(
        project=project,
        actor=Actor.for_agent(ann),
        topic=topic,
        participants=["bob"],
        proposal=SESSIONS,
        rationale="Revocation must be immediate.",
        **subject,
    )


def turn(agent: Agent, debate: Debate, **fields: Any) -> TurnResult:
    return services.submit_turn(
        agent=agent,
        debate_id=debate.pk,
        client_key=f"{agent.name}-{debate.current_round}",
        **fields,
    )


def escalated(
    project: Project, ann: Agent, bob: Agent, *, rationale: str = "JWTs scale.", **subject: Any
) -> Debate:
    """Ann opens with P1 and stands by it; Bob proposes P2 against it: no consensus in the
    only round, so the debate escalates."""
    debate = open_debate(project, ann, **subject)
    turn(ann, debate, kind="support", supports="P1", rationale="P1 revokes at once.")
    result = turn(bob, debate, kind="propose", proposal=JWTS, rationale=rationale)
    assert result.debate.status == DebateStatus.ESCALATED
    return Debate.objects.get(pk=debate.pk)


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def decide_url(debate: Debate, decision: str) -> str:
    return reverse("admin:debates_debate_decide", args=[debate.pk, decision])


def results(client: Client, query: str = "") -> list[Any]:
    response = client.get(admin_url(Debate, "changelist") + query)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def page(client: Client, debate: Debate, query: str = "") -> str:
    response = client.get(admin_url(Debate, "change", debate.pk) + query)
    assert response.status_code == 200
    return response.content.decode()


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def decide(client: Client, debate: Debate, decision: str, **data: str) -> Any:
    return client.post(decide_url(debate, decision), data, follow=True)


def stored(debate: Debate) -> dict[str, Any]:
    """The debate's row as stored, to show that a refused decision changed nothing."""
    return dict(Debate.objects.filter(pk=debate.pk).values().get())


class TestChangelist:
    def test_escalated_debates_come_first_then_open_ones_then_the_rest_newest_first(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        withdrawn = open_debate(project, ann, topic="Withdrawn")
        services.withdraw_debate(debate=withdrawn, actor=Actor.for_agent(ann))
        older_escalated = escalated(project, ann, bob)
        older_open = open_debate(project, ann, topic="Older open")
        newer_open = open_debate(project, ann, topic="Newer open")
        newer_escalated = escalated(project, ann, bob)

        assert [debate.pk for debate in results(client)] == [
            newer_escalated.pk,
            older_escalated.pk,
            newer_open.pk,
            older_open.pk,
            withdrawn.pk,
        ]

    def test_columns_show_subject_round_participants_and_who_is_awaited(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        make_task(project, "T1")
        debate = open_debate(project, ann, subject="task", task="T1")
        turn(ann, debate, kind="support", supports="P1", rationale="Mine.")

        content = client.get(admin_url(Debate, "changelist")).content.decode()

        assert '<td class="field-subject">task T1</td>' in content
        assert '<td class="field-round">1 / 1</td>' in content
        assert '<td class="field-participant_names">ann, bob</td>' in content
        assert '<td class="field-awaiting">bob</td>' in content
        assert '<td class="field-status">Open</td>' in content

    def test_an_escalated_debate_awaits_nobody_and_shows_when_it_escalated(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        [row] = results(client)
        assert row.pk == debate.pk
        content = client.get(admin_url(Debate, "changelist")).content.decode()
        assert '<td class="field-awaiting">-</td>' in content
        escalated_at = re.search(r'class="[^"]*field-escalated_at[^"]*">([^<]*)</td>', content)
        assert escalated_at is not None
        assert escalated_at.group(1) not in ("", "-")

    def test_filters_by_status_and_project_and_search_by_topic(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        waiting = escalated(project, ann, bob)
        talking = open_debate(project, ann, topic="Retry policy for webhooks")
        other = make_project(slug="other")
        cy, _ = make_agent(other, "cy")
        make_agent(other, "bob")
        elsewhere = open_debate(other, cy, topic="Elsewhere")

        def pks(query: str) -> list[int]:
            return [debate.pk for debate in results(client, query)]

        assert pks("?status__exact=escalated") == [waiting.pk]
        assert pks(f"?project__id__exact={project.pk}") == [waiting.pk, talking.pk]
        assert pks(f"?project__id__exact={other.pk}") == [elsewhere.pk]
        assert pks("?q=webhooks") == [talking.pk]

    def test_the_list_takes_as_many_queries_for_many_debates_as_for_one(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                client.get(admin_url(Debate, "changelist"))
            return len(captured)

        open_debate(project, ann)
        one = queries()
        for _ in range(5):
            open_debate(project, ann)
        assert queries() == one


class TestDebatePage:
    def test_the_transcript_shows_turns_objections_answers_evidence_and_the_tally(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        [hit] = services.search_web(agent=bob, query="jwt revocation", provider=FixedSearch()).hits
        debate = open_debate(project, ann)
        turn(ann, debate, kind="support", supports="P1", rationale="P1 revokes at once.")
        turn(
            bob,
            debate,
            kind="propose",
            proposal=JWTS,
            rationale="JWTs need no lookup.",
            objections=[{"proposal": "P1", "text": "A database read on every request."}],
            evidence=[
                {"search_result": hit.pk},
                {"url": "https://example.com/sessions", "quote": "Sessions cost a read."},
            ],
        )

        content = page(client, debate)

        assert "Round 1" in content
        assert "<strong>ann</strong> supports P1" in content
        assert "<strong>bob</strong> proposes P2" in content
        assert "O1 against P1: A database read on every request." in content
        # Evidence is quoted, with where it came from.
        assert (
            '<blockquote class="debate-quote">A signed token stays valid until it expires '
            "&lt;b&gt;unless&lt;/b&gt; a denylist.</blockquote>"
        ) in content
        assert '<a href="https://example.org/jwt-revocation" rel="nofollow' in content
        assert "retrieved by PeerCode from fixed-search for the query “jwt revocation”" in content
        assert '<blockquote class="debate-quote">Sessions cost a read.</blockquote>' in content
        assert "cited by the agent (not retrieved by PeerCode)" in content
        # The tally, the proposals with their supporters, and the escalation summary.
        assert "Tally:\n          P1: ann; P2: bob." in content
        assert "Standing for it: ann." in content
        assert "Standing for it: bob." in content
        assert "Built from the transcript by PeerCode&#x27;s rules (no AI)." in content
        assert "Last round without consensus" in content

    def test_a_later_round_shows_who_moved_held_and_answered(
        self, client: Client, ann: Agent, bob: Agent
    ) -> None:
        project = update_project(project=ann.project, actor=SYSTEM, max_debate_rounds=3)
        debate = services.open_debate(
            project=project,
            actor=Actor.for_agent(ann),
            topic="Session format",
            participants=["bob"],
            proposal=SESSIONS,
        )
        turn(ann, debate, kind="support", supports="P1", rationale="Mine.")
        turn(
            bob,
            debate,
            kind="propose",
            proposal=JWTS,
            rationale="No lookup.",
            objections=[{"proposal": "P1", "text": "A read per request."}],
        )
        debate.refresh_from_db()
        turn(
            ann,
            debate,
            kind="support",
            supports="P1",
            rationale="Still P1.",
            answers=[{"objection": "O1", "response": "One indexed read is cheap."}],
        )

        content = page(client, debate)

        assert "(first stance)" in content
        assert "(held)" in content
        assert "O1: One indexed read is cheap." in content
        assert "waiting for bob" in content

    def test_agent_written_text_and_quotes_are_escaped(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_debate(project, ann)
        turn(ann, debate, kind="support", supports="P1", rationale=SCRIPT)
        turn(
            bob,
            debate,
            kind="propose",
            proposal=f"{JWTS} {SCRIPT}",
            rationale=SCRIPT,
            objections=[{"proposal": "P1", "text": SCRIPT}],
            evidence=[{"url": "https://example.com/x?a=<script>", "quote": SCRIPT}],
        )

        content = page(client, debate)

        assert "<script>alert" not in content
        # Two rationales, the proposal, the objection, the quote, the dissent on the page.
        assert content.count(ESCAPED_SCRIPT) >= 5
        assert "https://example.com/x?a=&lt;script&gt;" in content

    def test_an_ai_mediated_summary_is_labelled_ai_written_with_its_suggestion(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        services.attach_mediation(
            debate_id=debate.pk,
            client=messages_api(
                summary=f"They disagree on revocation. {SCRIPT}",
                compromise="Sessions for browsers, JWTs between services.",
            ),
        )

        content = page(client, debate)

        assert "AI-written by the mediator: advice only." in content
        assert f"They disagree on revocation. {ESCAPED_SCRIPT}" in content
        assert "Suggested compromise (AI-written):" in content
        assert f"{COMPROMISE_LABEL}Sessions for browsers, JWTs between services." in content

    def test_a_decided_debate_shows_the_decision_and_the_dissent(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        services.accept_proposal(
            debate=debate, actor=Actor.for_user(make_user(username="lead")), proposal="P1"
        )

        content = page(client, debate)

        assert "Decision: A human accepted a proposal (P1)" in content
        assert "Decided by user:lead" in content
        assert "bob stood for P2: JWTs scale." in content
        assert 'class="debate-proposal decided" id="proposal-P1"' in content
        assert 'id="debate-decisions"' not in content

    def test_a_withdrawn_debate_shows_who_withdrew_it_and_why(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_debate(project, ann)
        services.withdraw_debate(debate=debate, actor=Actor.for_agent(ann), reason="Moot now.")

        content = page(client, debate)

        assert "by agent:ann</h3>" in content
        assert "Why: Moot now." in content
        assert "(the debate was withdrawn): withdrawn." in content
        assert 'id="debate-decisions"' not in content

    def test_an_escalated_debate_offers_the_four_decisions(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        content = page(client, debate)
        for decision in ("accept", "edit", "reject", "return"):
            assert f'action="{decide_url(debate, decision)}"' in content
        assert decide_url(debate, "withdraw") not in content
        assert 'name="csrfmiddlewaretoken"' in content

    def test_an_open_debate_offers_only_withdrawal(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_debate(project, ann)
        content = page(client, debate)
        assert f'action="{decide_url(debate, "withdraw")}"' in content
        assert decide_url(debate, "accept") not in content

    def test_editing_a_proposal_starts_the_decided_text_from_it(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        response = client.get(admin_url(Debate, "change", debate.pk) + "?edit=P2")
        [edit] = [d for d in response.context["page"]["decisions"] if d["slug"] == "edit"]
        assert edit["form"].initial == {"based_on": "P2", "text": JWTS}
        assert f"{JWTS}</textarea>" in response.content.decode()

    def test_rows_cannot_be_added_changed_or_deleted(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_debate(project, ann)
        before = stored(debate)
        assert client.get(admin_url(Debate, "add")).status_code == 403
        assert (
            client.post(admin_url(Debate, "change", debate.pk), {"topic": "x"}).status_code == 403
        )
        assert (
            client.post(admin_url(Debate, "delete", debate.pk), {"post": "yes"}).status_code == 403
        )
        assert stored(debate) == before
        assert 'name="_save"' not in page(client, debate)


class TestDecisions:
    def test_accepting_a_proposal_decides_the_contract_and_records_who(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        make_contract(project, "auth-api")
        debate = escalated(project, ann, bob, subject="contract", contract="auth-api")

        response = decide(client, debate, "accept", proposal="P2", reason="Scales better.")

        debate.refresh_from_db()
        assert (debate.status, debate.decision_kind) == (
            DebateStatus.RESOLVED,
            DecisionKind.ACCEPTED,
        )
        assert (debate.decision, debate.decided_by) == (JWTS, "user:ada")
        assert debate.decision_reason == "Scales better."
        version = ContractVersion.objects.get(contract__name="auth-api", number=2)
        assert (version.spec, version.author) == (JWTS, f"debate:{debate.pk}")
        event = Event.objects.get(type="debate.decided")
        assert (event.actor, event.subject) == ("user:ada", f"debate:{debate.pk}")
        assert messages_of(response) == [
            f"Debate #{debate.pk} resolved: you accepted P2. auth-api is now at version 2. "
            "The participants are told."
        ]
        assert response.redirect_chain == [(admin_url(Debate, "change", debate.pk), 302)]

    def test_deciding_on_an_edited_text_keeps_what_it_was_based_on(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        edited = JWTS.replace("fifteen", "five")

        response = decide(client, debate, "edit", based_on="P2", text=edited, reason="")

        debate.refresh_from_db()
        assert (debate.status, debate.decision_kind) == (DebateStatus.RESOLVED, DecisionKind.EDITED)
        assert debate.decision == edited
        assert debate.decided_proposal is not None
        assert debate.decided_proposal.label == "P2"
        assert Event.objects.get(type="debate.decided").actor == "user:ada"
        assert "you decided on your edited text based on P2" in messages_of(response)[0]

    def test_rejecting_every_proposal_records_the_reason(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)

        response = decide(client, debate, "reject", reason="Neither handles key rotation.")

        debate.refresh_from_db()
        assert (debate.status, debate.decision_kind) == (
            DebateStatus.RESOLVED,
            DecisionKind.REJECTED,
        )
        assert debate.decision_reason == "Neither handles key rotation."
        assert sorted(entry["agent"] for entry in debate.dissent) == ["ann", "bob"]
        event = Event.objects.get(type="debate.decided")
        assert (event.actor, event.payload["decision_kind"]) == ("user:ada", "rejected")
        assert "you rejected every proposal" in messages_of(response)[0]

    def test_rejecting_without_a_reason_is_refused_and_changes_nothing(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        before = stored(debate)

        response = decide(client, debate, "reject", reason="  ")

        assert messages_of(response) == ["The reason is empty; give some text."]
        assert stored(debate) == before
        assert not Event.objects.filter(type="debate.decided").exists()

    def test_returning_with_guidance_opens_a_fresh_set_of_rounds(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)

        response = decide(client, debate, "return", guidance="Consider key rotation too.")

        debate.refresh_from_db()
        assert (debate.status, debate.current_round, debate.cycle_start) == (
            DebateStatus.OPEN,
            2,
            2,
        )
        assert debate.guidance == "Consider key rotation too."
        event = Event.objects.get(type="debate.returned")
        assert (event.actor, event.payload["guidance"]) == ("user:ada", debate.guidance)
        assert messages_of(response) == [
            f"Debate #{debate.pk} returned to its participants with your guidance; round 2 is "
            "open (blind)."
        ]
        assert "Consider key rotation too." in response.content.decode()

    def test_withdrawing_an_open_debate_closes_it(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_debate(project, ann)

        response = decide(client, debate, "withdraw", reason="Settled elsewhere.")

        debate.refresh_from_db()
        assert (debate.status, debate.decided_by) == (DebateStatus.WITHDRAWN, "user:ada")
        event = Event.objects.get(type="debate.withdrawn")
        assert (event.actor, event.payload["reason"]) == ("user:ada", "Settled elsewhere.")
        assert messages_of(response) == [
            f"Debate #{debate.pk} withdrawn. The participants are told."
        ]

    @pytest.mark.parametrize(
        ("decision", "data"),
        [
            ("accept", {"proposal": "P1"}),
            ("edit", {"text": "Something else entirely."}),
            ("reject", {"reason": "No."}),
            ("return", {"guidance": "Think again."}),
        ],
    )
    def test_deciding_an_open_debate_is_refused_and_changes_nothing(
        self,
        client: Client,
        project: Project,
        ann: Agent,
        bob: Agent,
        decision: str,
        data: dict[str, str],
    ) -> None:
        debate = open_debate(project, ann)
        before = stored(debate)
        events = Event.objects.count()

        response = decide(client, debate, decision, **data)

        [message] = messages_of(response)
        assert message.startswith(f"Debate #{debate.pk} is open, so you cannot ")
        assert [m.level_tag for m in response.context["messages"]] == ["error"]
        assert stored(debate) == before
        assert Event.objects.count() == events

    def test_withdrawing_an_escalated_debate_is_refused_and_changes_nothing(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        before = stored(debate)

        response = decide(client, debate, "withdraw")

        assert messages_of(response)[0].startswith(
            f"Debate #{debate.pk} is escalated, so you cannot withdraw it."
        )
        assert stored(debate) == before
        assert not Event.objects.filter(type="debate.withdrawn").exists()

    def test_an_unknown_proposal_is_refused_naming_the_proposals(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        response = decide(client, debate, "accept", proposal="P9")
        assert messages_of(response) == [
            f"Debate #{debate.pk} has no proposal 'P9'; its proposals are P1, P2."
        ]
        assert stored(debate)["status"] == DebateStatus.ESCALATED

    def test_a_decision_must_be_posted(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        assert client.get(decide_url(debate, "accept") + "?proposal=P1").status_code == 405
        assert stored(debate)["status"] == DebateStatus.ESCALATED

    def test_a_decision_without_the_csrf_token_is_refused(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_user(username="ada"))
        assert client.post(decide_url(debate, "accept"), {"proposal": "P1"}).status_code == 403
        assert stored(debate)["status"] == DebateStatus.ESCALATED

    def test_an_unknown_decision_is_not_found(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = open_debate(project, ann)
        assert client.post(decide_url(debate, "approve"), {}).status_code == 404

    def test_people_who_are_not_staff_cannot_reach_it(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        debate = escalated(project, ann, bob)
        client = Client()
        client.force_login(make_user(username="guest", staff=False))

        response = client.post(decide_url(debate, "accept"), {"proposal": "P1"})

        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]
        assert stored(debate)["status"] == DebateStatus.ESCALATED
        assert not Event.objects.filter(type="debate.decided").exists()

    def test_staff_who_may_only_view_debates_are_refused_and_not_offered_the_forms(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        viewer = make_user(username="viewer", staff=False)
        viewer.is_staff = True
        viewer.save()
        viewer.user_permissions.add(Permission.objects.get(codename="view_debate"))
        client = Client()
        client.force_login(viewer)
        debate = escalated(project, ann, bob)

        assert 'id="debate-decisions"' not in page(client, debate)
        response = client.post(decide_url(debate, "accept"), {"proposal": "P1"})

        assert response.status_code == 403
        assert stored(debate)["status"] == DebateStatus.ESCALATED


class TestSearchHits:
    def test_search_hits_are_listed_and_read_only(
        self, client: Client, project: Project, bob: Agent
    ) -> None:
        [hit] = services.search_web(agent=bob, query="jwt revocation", provider=FixedSearch()).hits

        response = client.get(admin_url(SearchHit, "changelist"))

        assert [row.pk for row in response.context["cl"].result_list] == [hit.pk]
        content = response.content.decode()
        assert "fixed-search" in content
        assert "jwt revocation" in content
        assert "https://example.org/jwt-revocation" in content
        assert client.get(admin_url(SearchHit, "change", hit.pk)).status_code == 200
        assert client.get(admin_url(SearchHit, "add")).status_code == 403
        assert (
            client.post(admin_url(SearchHit, "delete", hit.pk), {"post": "yes"}).status_code == 403
        )


# The AI mediator's Messages API, answered locally --------------------------------------------


def messages_api(*, summary: str, compromise: str) -> anthropic.Anthropic:
    """An Anthropic client whose one request is answered with a submit_mediation call."""
    answer = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "name": SUBMIT_MEDIATION_TOOL,
                "input": {"summary": summary, "compromise": compromise},
            }
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 1200, "output_tokens": 200},
    }
    return anthropic.Anthropic(
        api_key="test-key",
        http_client=httpx2.Client(
            transport=httpx2.MockTransport(lambda request: httpx2.Response(200, json=answer))
        ),
        max_retries=0,
    )
