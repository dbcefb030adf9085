"""REST API of debates: open, list, read, take turns, withdraw, decide, search.

The crew (see :class:`tests.debates.api_support.Crew`): ann owns the contract AuthAPI through
API-1, bob consumes it through WEB-1, cy holds nothing; project 'beta' has its own agents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from debates import search, selectors, services
from debates.models import Debate, DebateRound, DebateStatus, SearchHit, Turn
from deltas.models import Delta
from deltas.services import push_delta
from peercode.actors import Actor
from peercode.events.models import Event
from projects import services as plan
from projects.models import ContractVersion
from tests.debates.api_support import (
    DEBATES,
    SEARCH,
    TOO_BIG,
    Crew,
    debate_url,
    open_between,
    post,
    take_turn,
    unchanged,
)
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_task
from tests.projects.api_support import API, agent_client, error_of, human_client, member_client

pytestmark = pytest.mark.django_db

JWT = "POST /login -> {jwt}"
SESSION = "POST /login -> {session_id} with the session kept server side"


@pytest.fixture(autouse=True)
def offline(settings: Any) -> None:
    """No AI mediator and no web search: the tests never leave the machine."""
    settings.ANTHROPIC_API_KEY = ""
    settings.PEERCODE_SEARCH_PROVIDER = ""


@pytest.fixture
def crew() -> Crew:
    project = make_project(slug="alpha", name="Alpha")
    ann, ann_token = make_agent(project, "ann")
    bob, bob_token = make_agent(project, "bob")
    cy, cy_token = make_agent(project, "cy")
    make_task(project, "API-1")
    plan.claim_task(agent=ann, task_key="API-1")
    make_contract(project, "AuthAPI", owner="API-1", spec="POST /login -> {token}")
    make_task(project, "WEB-1", consumes=["AuthAPI"])
    plan.claim_task(agent=bob, task_key="WEB-1")
    return Crew(project, ann, ann_token, bob, bob_token, cy, cy_token)


@dataclass
class Beta:
    debate: Debate
    zed_token: str


@pytest.fixture
def beta() -> Beta:
    """Project 'beta', with a debate between its agents zed and yan."""
    project = make_project(slug="beta", name="Beta")
    zed, zed_token = make_agent(project, "zed")
    yan, _ = make_agent(project, "yan")
    return Beta(open_between(zed, yan), zed_token)


@pytest.fixture
def debate(crew: Crew) -> Debate:
    """ann and bob, round 1 (blind), no proposal yet."""
    return open_between(crew.ann, crew.bob)


@pytest.fixture
def with_opening(crew: Crew) -> Debate:
    """ann and bob, with ann's opening proposal P1 (visible to both from the start)."""
    return open_between(crew.ann, crew.bob, proposal=JWT)


def escalate_after_one_round(crew: Crew) -> Debate:
    """A contract debate on AuthAPI in a project allowing one round: ann stands for her opening
    proposal P1, bob proposes P2, and the round's close escalates it."""
    plan.update_project(project=crew.project, actor=SYSTEM, max_debate_rounds=1)
    crew.project.refresh_from_db()
    debate = open_between(crew.ann, crew.bob, subject="contract", contract="AuthAPI", proposal=JWT)
    take_turn(crew.ann, debate, supports="P1")
    take_turn(crew.bob, debate, propose=SESSION)
    debate.refresh_from_db()
    assert debate.status == DebateStatus.ESCALATED
    return debate


def body_of(response: Any, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response.json()


class TestOpen:
    def test_an_agent_opens_a_debate_and_takes_part(self, crew: Crew) -> None:
        response = post(
            crew.ann_token,
            DEBATES,
            {"topic": "Token format", "participants": ["bob"], "rationale": "we disagree"},
        )

        body = body_of(response, 201)
        debate = Debate.objects.get()
        assert body == selectors.debate_as_dict(debate, viewer=crew.ann)
        assert body["participants"] == ["ann", "bob"]
        assert body["initiator"] == "agent:ann"
        assert (body["status"], body["round"], body["blind"]) == ("open", 1, True)
        assert body["awaiting"] == ["ann", "bob"]
        assert body["your_turn"] is True
        assert body["subject"] == {
            "kind": "free",
            "contract": None,
            "contract_version": None,
            "task": None,
        }
        event = Event.objects.get(type="debate.opened")
        assert (event.actor, event.subject) == ("agent:ann", f"debate:{debate.pk}")
        assert event.payload["participants"] == ["ann", "bob"]
        delta = Delta.objects.get(kind="debate")
        assert delta.agents == ["ann", "bob"]
        assert delta.summary.startswith(f"Debate #{debate.pk} opened by agent:ann")

    def test_an_opening_proposal_is_p1_and_visible_to_the_other_side(self, crew: Crew) -> None:
        response = post(
            crew.ann_token,
            DEBATES,
            {"topic": "Token format", "participants": ["bob"], "proposal": JWT},
        )
        debate_id = body_of(response, 201)["id"]

        seen = body_of(agent_client(crew.bob_token).get(debate_url(debate_id)), 200)

        assert [(p["id"], p["author"], p["text"]) for p in seen["proposals"]] == [
            ("P1", "agent:ann", JWT)
        ]

    def test_a_human_opens_a_contract_debate_on_its_current_version(self, crew: Crew) -> None:
        response = human_client(username="alice").post(
            DEBATES,
            {
                "topic": "Login response",
                "participants": ["ann", "bob"],
                "subject": "contract",
                "contract": "AuthAPI",
            },
            format="json",
        )

        body = body_of(response, 201)
        assert body["initiator"] == "user:alice"
        assert body["participants"] == ["ann", "bob"]
        assert body["subject"]["contract"] == "AuthAPI"
        assert body["subject"]["contract_version"] == 1
        assert body["your_turn"] is False
        assert Delta.objects.get(kind="debate").contracts == ["AuthAPI"]

    def test_a_contract_proposal_becomes_a_debate_between_proposer_and_owner(
        self, crew: Crew
    ) -> None:
        proposal = push_delta(
            project=crew.project,
            actor=Actor.for_agent(crew.bob),
            kind="contract_change",
            summary="login also returns a refresh token",
            contracts=["AuthAPI"],
            spec="POST /login -> {access, refresh}",
        ).delta

        response = post(crew.bob_token, DEBATES, {"from_delta": proposal.seq})

        body = body_of(response, 201)
        assert body["participants"] == ["ann", "bob"]
        assert body["source_delta_seq"] == proposal.seq
        assert body["subject"]["kind"] == "contract"
        assert body["topic"] == "AuthAPI: login also returns a refresh token"
        assert [(p["id"], p["author"], p["text"]) for p in body["proposals"]] == [
            ("P1", "agent:bob", "POST /login -> {access, refresh}")
        ]

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({"topic": "x", "participants": []}, "at least two participants"),
            ({"topic": "x", "participants": ["ann"]}, "at least two participants"),
            ({"topic": "x", "participants": ["zed"]}, "Unknown or inactive agent(s)"),
            ({"topic": "x", "participants": ["nobody"]}, "nobody"),
            ({"topic": "x", "participants": ["bob"], "subject": "budget"}, "not a debate subject"),
            ({"topic": "x", "participants": ["bob"], "subject": "contract"}, "names the contract"),
            (
                {"topic": "x", "participants": ["bob"], "subject": "contract", "contract": "Nope"},
                "Nope",
            ),
            (
                {
                    "topic": "x",
                    "participants": ["bob"],
                    "subject": "contract",
                    "contract": "AuthAPI",
                    "contract_version": 7,
                },
                "no version 7",
            ),
            ({"topic": "x", "participants": ["bob"], "task": "API-1"}, "A free debate"),
            ({"topic": "x", "participants": ["bob"], "proposal": "   "}, "The proposal is empty"),
            ({"participants": ["bob"]}, "topic: This field is required: say in one line"),
            ({"topic": "x"}, "participants: This field is required: name the agents"),
            ({"topic": "x" * 301, "participants": ["bob"]}, "topic"),
            ({"topic": "x", "participants": [f"a{n}" for n in range(11)]}, "participants"),
            ({"topic": "x", "participants": "bob"}, "participants"),
            ({"topic": "x", "participants": ["bob"], "initiator": "cy"}, "Unknown field"),
            ({"from_delta": 1, "participants": ["bob"]}, "from_delta takes only 'topic'"),
            ({"from_delta": 99}, "not a contract proposal"),
            ({"from_delta": 0}, "from_delta"),
        ],
    )
    def test_a_bad_opening_is_refused_and_nothing_is_written(
        self, crew: Crew, beta: Beta, body: dict[str, Any], mentions: str
    ) -> None:
        with unchanged():
            error = error_of(post(crew.ann_token, DEBATES, body), 400)
        assert mentions in error["message"]

    def test_an_agent_of_another_project_is_not_a_participant(self, crew: Crew, beta: Beta) -> None:
        with unchanged():
            error = error_of(
                post(crew.ann_token, DEBATES, {"topic": "x", "participants": ["bob", "zed"]}),
                400,
                "unknown_participant",
            )
        assert error["details"] == {"unknown": ["zed"]}

    def test_a_human_needs_two_agents(self, crew: Crew) -> None:
        with unchanged():
            error_of(
                human_client().post(
                    DEBATES, {"topic": "x", "participants": ["bob"]}, format="json"
                ),
                400,
                "too_few_participants",
            )

    def test_another_projects_token_cannot_open_one(self, crew: Crew, beta: Beta) -> None:
        with unchanged():
            error_of(
                post(beta.zed_token, DEBATES, {"topic": "x", "participants": ["ann", "bob"]}),
                403,
                "wrong_project",
            )


class TestList:
    @dataclass
    class Debates:
        ann_bob: Debate  # open, ann has taken her turn
        cy_ann: Debate  # open, nobody has spoken
        bob_cy: Debate  # withdrawn
        escalated: Debate  # ann and bob, escalated after one round

    @pytest.fixture
    def debates(self, crew: Crew) -> Debates:
        ann_bob = open_between(crew.ann, crew.bob)
        take_turn(crew.ann, ann_bob, propose=JWT)
        cy_ann = open_between(crew.cy, crew.ann)
        bob_cy = open_between(crew.bob, crew.cy)
        services.withdraw_debate(debate=bob_cy, actor=Actor.for_agent(crew.bob))
        return self.Debates(ann_bob, cy_ann, bob_cy, escalate_after_one_round(crew))

    def ids(self, token: str, query: dict[str, str] | None = None) -> list[int]:
        body = body_of(agent_client(token).get(DEBATES, query or {}), 200)
        return [item["id"] for item in body["results"]]

    def test_a_human_sees_every_debate_escalated_first_then_open_then_newest(
        self, crew: Crew, debates: Debates
    ) -> None:
        body = body_of(human_client().get(DEBATES), 200)

        assert body["count"] == 4
        assert [item["id"] for item in body["results"]] == [
            debates.escalated.pk,
            debates.cy_ann.pk,
            debates.ann_bob.pk,
            debates.bob_cy.pk,
        ]
        assert body["results"] == selectors.briefs(selectors.debates_of(crew.project))
        first_open = body["results"][1]
        assert first_open["awaiting"] == ["ann", "cy"]
        assert first_open["initiator"] == "agent:cy"

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({"status": "open"}, ["cy_ann", "ann_bob"]),
            ({"status": "withdrawn"}, ["bob_cy"]),
            ({"status": "consensus"}, []),
            ({"participant": "cy"}, ["cy_ann", "bob_cy"]),
            ({"participant": "bob", "status": "escalated"}, ["escalated"]),
            ({"limit": "2", "offset": "1"}, ["cy_ann", "ann_bob"]),
        ],
    )
    def test_filters(
        self, crew: Crew, debates: Debates, query: dict[str, str], expected: list[str]
    ) -> None:
        wanted = [getattr(debates, name).pk for name in expected]
        assert self.ids(crew.cy_token, query) == wanted

    def test_awaiting_keeps_the_debates_waiting_for_the_callers_turn(
        self, crew: Crew, debates: Debates
    ) -> None:
        awaiting = {"awaiting": "true"}
        assert self.ids(crew.ann_token, awaiting) == [debates.cy_ann.pk]
        assert self.ids(crew.bob_token, awaiting) == [debates.ann_bob.pk]
        assert self.ids(crew.cy_token, awaiting) == [debates.cy_ann.pk]
        assert self.ids(crew.cy_token, {"awaiting": "false"}) == self.ids(crew.cy_token)

    def test_awaiting_needs_an_agent(self, crew: Crew, debates: Debates) -> None:
        error = error_of(
            human_client().get(DEBATES, {"awaiting": "true"}), 400, "awaiting_needs_agent"
        )
        assert "agent token" in error["message"]

    def test_an_unknown_participant_is_named(self, crew: Crew, debates: Debates) -> None:
        error = error_of(
            agent_client(crew.ann_token).get(DEBATES, {"participant": "nobody"}),
            404,
            "unknown_agent",
        )
        assert "nobody" in error["message"]

    @pytest.mark.parametrize(
        ("query", "mentions"),
        [
            ({"status": "stuck"}, "not a debate status"),
            ({"awaiting": "maybe"}, "awaiting"),
            ({"participant": "x" * 65}, "participant"),
            ({"agent": "ann"}, "Unknown query parameter 'agent'"),
        ],
    )
    def test_bad_filters_are_refused(
        self, crew: Crew, query: dict[str, str], mentions: str
    ) -> None:
        error = error_of(agent_client(crew.ann_token).get(DEBATES, query), 400)
        assert mentions in error["message"]


class TestDetail:
    def test_in_a_blind_round_a_participant_sees_only_its_own_turn(
        self, crew: Crew, debate: Debate
    ) -> None:
        take_turn(crew.ann, debate, propose=JWT, rationale="stateless")

        bob_sees = body_of(agent_client(crew.bob_token).get(debate_url(debate)), 200)
        ann_sees = body_of(agent_client(crew.ann_token).get(debate_url(debate)), 200)

        assert bob_sees["blind"] is True
        assert bob_sees["proposals"] == []
        assert bob_sees["turns"] == []
        assert bob_sees["awaiting"] == ["bob"]
        assert bob_sees["your_turn"] is True
        assert [(t["agent"], t["stance"], t["rationale"]) for t in ann_sees["turns"]] == [
            ("ann", "P1", "stateless")
        ]
        assert [p["text"] for p in ann_sees["proposals"]] == [JWT]
        assert ann_sees["your_turn"] is False

    def test_once_the_round_closes_everyone_sees_every_turn(
        self, crew: Crew, debate: Debate
    ) -> None:
        take_turn(crew.ann, debate, propose=JWT)
        take_turn(crew.bob, debate, propose=SESSION)

        body = body_of(agent_client(crew.bob_token).get(debate_url(debate)), 200)

        assert (body["round"], body["blind"], body["status"]) == (2, False, "open")
        assert [(t["round"], t["agent"], t["stance"]) for t in body["turns"]] == [
            (1, "ann", "P1"),
            (1, "bob", "P2"),
        ]
        assert [p["id"] for p in body["proposals"]] == ["P1", "P2"]
        assert body["rounds"][0]["tally"]["outcome"] == "next_round"
        assert body["stance_history"] == {"ann": ["P1"], "bob": ["P2"]}

    def test_a_truncated_proposal_is_sent_whole_on_request_and_a_stray_parameter_refused(
        self, crew: Crew, debate: Debate
    ) -> None:
        long_spec = "\n".join(f"field_{n}: string" for n in range(200))
        take_turn(crew.ann, debate, propose=long_spec)
        take_turn(crew.bob, debate, propose=SESSION)
        take_turn(crew.ann, debate, propose=JWT)
        take_turn(crew.bob, debate, supports="P2")
        client = agent_client(crew.bob_token)

        body = body_of(client.get(debate_url(debate)), 200)
        whole = body_of(client.get(debate_url(debate) + "?whole_proposal=P1"), 200)
        refused = error_of(client.get(debate_url(debate) + "?proposal=P1"), 400)

        (p1,) = [p for p in body["proposals"] if p["id"] == "P1"]
        assert (p1["truncated"], len(p1["text"])) == (True, 1_000)
        (p1,) = [p for p in whole["proposals"] if p["id"] == "P1"]
        assert (p1["truncated"], p1["text"]) == (False, long_spec)
        assert "Unknown query parameter 'proposal'" in refused["message"]

    def test_a_human_sees_everything_even_in_a_blind_round(
        self, crew: Crew, debate: Debate
    ) -> None:
        take_turn(crew.ann, debate, propose=JWT)

        body = body_of(human_client().get(debate_url(debate)), 200)

        assert body == selectors.debate_as_dict(debate, viewer=None)
        assert [t["agent"] for t in body["turns"]] == ["ann"]
        assert [p["text"] for p in body["proposals"]] == [JWT]
        assert body["your_turn"] is False

    def test_an_unknown_debate_is_a_404(self, crew: Crew) -> None:
        error_of(human_client().get(debate_url(999)), 404, "unknown_debate")
        error_of(human_client().get(debate_url(TOO_BIG)), 404, "unknown_debate")


class TestTurn:
    def turn(self, **fields: Any) -> dict[str, Any]:
        return {"client_key": "turn-1", "rationale": "Simpler to verify.", **fields}

    def test_a_participant_proposes_and_the_round_waits_for_the_other(
        self, crew: Crew, debate: Debate
    ) -> None:
        response = post(
            crew.ann_token, debate_url(debate, "turns"), self.turn(kind="propose", proposal=JWT)
        )

        body = body_of(response, 201)
        assert body["turn"] == {"round": 1, "kind": "propose", "stance": "P1", "moved": None}
        assert body["replayed"] is False
        assert body["round_closed"] is None
        debate.refresh_from_db()
        assert body["debate"] == selectors.debate_as_dict(debate, viewer=crew.ann)
        assert body["debate"]["awaiting"] == ["bob"]
        event = Event.objects.get(type="debate.turn_taken")
        # The first round is blind: the event log, which agents read too, keeps it so.
        assert (event.actor, event.payload) == ("agent:ann", {"round": 1, "blind": True})

    def test_the_last_turn_closes_the_round_with_its_tally(
        self, crew: Crew, with_opening: Debate
    ) -> None:
        take_turn(crew.ann, with_opening, supports="P1")

        response = post(
            crew.bob_token,
            debate_url(with_opening, "turns"),
            self.turn(kind="support", supports="P1"),
        )

        body = body_of(response, 201)
        assert body["round_closed"]["outcome"] == "consensus"
        assert body["round_closed"]["consensus_on"] == "P1"
        assert body["round_closed"]["support"] == {"P1": ["ann", "bob"]}
        assert body["debate"]["status"] == "consensus"
        assert body["debate"]["decision"]["kind"] == "consensus"
        assert DebateRound.objects.get(debate=with_opening).closed_by == "turns"

    def test_a_retry_with_the_same_client_key_is_replayed_and_counted_once(
        self, crew: Crew, debate: Debate
    ) -> None:
        url = debate_url(debate, "turns")
        turn = self.turn(kind="propose", proposal=JWT)
        first = body_of(post(crew.ann_token, url, turn), 201)

        with unchanged():
            again = body_of(post(crew.ann_token, url, turn), 200)

        assert again["replayed"] is True
        assert again["turn"] == first["turn"]
        assert Turn.objects.filter(debate=debate).count() == 1
        assert Event.objects.filter(type="debate.turn_taken").count() == 1

    def test_the_same_client_key_with_other_content_is_a_conflict(
        self, crew: Crew, debate: Debate
    ) -> None:
        url = debate_url(debate, "turns")
        body_of(post(crew.ann_token, url, self.turn(kind="propose", proposal=JWT)), 201)

        with unchanged():
            error_of(
                post(crew.ann_token, url, self.turn(kind="propose", proposal=SESSION)),
                409,
                "client_key_reused",
            )

    def test_a_second_turn_in_the_same_round_is_a_conflict(
        self, crew: Crew, debate: Debate
    ) -> None:
        take_turn(crew.ann, debate, propose=JWT)

        with unchanged():
            error = error_of(
                post(
                    crew.ann_token,
                    debate_url(debate, "turns"),
                    self.turn(kind="propose", proposal=SESSION),
                ),
                409,
                "turn_already_taken",
            )
        assert "round 1" in error["message"]

    def test_a_non_participant_cannot_take_a_turn(self, crew: Crew, debate: Debate) -> None:
        with unchanged():
            error_of(
                post(
                    crew.cy_token,
                    debate_url(debate, "turns"),
                    self.turn(kind="propose", proposal=JWT),
                ),
                403,
                "not_a_participant",
            )

    def test_a_human_cannot_take_a_turn(self, crew: Crew, debate: Debate) -> None:
        with unchanged():
            error = error_of(
                human_client().post(
                    debate_url(debate, "turns"),
                    self.turn(kind="propose", proposal=JWT),
                    format="json",
                ),
                403,
                "agents_only",
            )
        assert "turns and web searches" in error["message"]

    def test_a_proposal_hidden_by_the_blind_round_cannot_be_supported(
        self, crew: Crew, debate: Debate
    ) -> None:
        take_turn(crew.ann, debate, propose=JWT)

        with unchanged():
            error = error_of(
                post(
                    crew.bob_token,
                    debate_url(debate, "turns"),
                    self.turn(kind="support", supports="P1"),
                ),
                400,
                "unknown_proposal",
            )
        assert error["details"] == {"visible": []}

    @pytest.mark.parametrize(
        ("fields", "mentions"),
        [
            ({"kind": "support", "supports": "P9"}, "no proposal 'P9'"),
            ({"kind": "support"}, "names the proposal it supports"),
            ({"kind": "propose"}, "The proposal is empty"),
            ({"kind": "silent", "supports": "P1"}, "not a turn kind"),
            ({"kind": "support", "supports": "P1", "rationale": ""}, "rationale"),
            ({"kind": "support", "supports": "P1", "stance": "P1"}, "Unknown field 'stance'"),
            ({"kind": "support", "supports": "P1", "client_key": "k" * 101}, "client_key"),
            (
                {"kind": "support", "supports": "P1", "objections": [{"proposal": "P1"}]},
                "objections",
            ),
            (
                {
                    "kind": "propose",
                    "proposal": SESSION,
                    "objections": [{"proposal": "P1", "text": "no"}] * 11,
                },
                "objections",
            ),
            (
                {
                    "kind": "propose",
                    "proposal": SESSION,
                    "objections": [{"proposal": "P1", "text": "x", "severity": "high"}],
                },
                "Unknown field 'severity'",
            ),
            (
                {"kind": "propose", "proposal": SESSION, "evidence": [{"url": "https://x.org"}]},
                "evidence[0]",
            ),
            (
                {
                    "kind": "propose",
                    "proposal": SESSION,
                    "evidence": [{"url": "ftp://x.org", "quote": "q"}],
                },
                "http(s) URL",
            ),
            (
                {"kind": "propose", "proposal": SESSION, "evidence": [{"search_result": 12345}]},
                "Unknown search result id(s): 12345",
            ),
            (
                {
                    "kind": "propose",
                    "proposal": SESSION,
                    "answers": [{"objection": "O1", "response": "fine"}],
                },
                "no earlier objections",
            ),
        ],
    )
    def test_a_bad_turn_is_refused_and_nothing_is_written(
        self, crew: Crew, with_opening: Debate, fields: dict[str, Any], mentions: str
    ) -> None:
        with unchanged():
            error = error_of(
                post(crew.bob_token, debate_url(with_opening, "turns"), self.turn(**fields)), 400
            )
        assert mentions in error["message"]

    def test_a_turn_cites_a_search_result_and_a_quote(self, crew: Crew, debate: Debate) -> None:
        [hit] = services.search_web(
            agent=crew.ann, query="jwt access tokens", provider=StubSearch()
        ).hits

        response = post(
            crew.ann_token,
            debate_url(debate, "turns"),
            self.turn(
                kind="propose",
                proposal=JWT,
                evidence=[
                    {"search_result": hit.pk},
                    {"url": "https://example.org/notes", "quote": "tokens are stateless"},
                ],
            ),
        )

        [turn] = body_of(response, 201)["debate"]["turns"]
        assert [(e["url"], e["quote"], e["provider"]) for e in turn["evidence"]] == [
            ("https://www.rfc-editor.org/rfc/rfc9068", "A JWT profile for access tokens", "stub"),
            ("https://example.org/notes", "tokens are stateless", None),
        ]
        assert turn["evidence"][0]["query"] == "jwt access tokens"

    def test_objections_are_answered_in_the_next_round(self, crew: Crew, debate: Debate) -> None:
        take_turn(crew.ann, debate, propose=JWT)
        take_turn(crew.bob, debate, propose=SESSION)
        url = debate_url(debate, "turns")
        body_of(
            post(
                crew.ann_token,
                url,
                self.turn(
                    kind="support",
                    supports="P1",
                    objections=[{"proposal": "P2", "text": "Sessions need sticky storage."}],
                ),
            ),
            201,
        )
        take_turn(crew.bob, debate, supports="P2")  # round 2 closes; O1 is owed in round 3

        unanswered = error_of(
            post(crew.bob_token, url, self.turn(kind="support", supports="P2")),
            400,
            "objections_unanswered",
        )
        answered = post(
            crew.bob_token,
            url,
            self.turn(
                client_key="turn-2",
                kind="support",
                supports="P2",
                answers=[{"objection": "O1", "response": "Redis is already there."}],
            ),
        )

        assert unanswered["details"] == {"objections": ["O1"]}
        body = body_of(answered, 201)
        bob_turn = [t for t in body["debate"]["turns"] if (t["round"], t["agent"]) == (3, "bob")]
        assert bob_turn[0]["answers"] == [
            {"objection": "O1", "response": "Redis is already there."}
        ]


class StubSearch:
    """A search provider that answers without the network (the web is the boundary here)."""

    name = "stub"

    def search(self, query: str, *, limit: int) -> list[search.SearchHit]:
        return [
            search.SearchHit(
                title="RFC 9068",
                url="https://www.rfc-editor.org/rfc/rfc9068",
                snippet="A JWT profile for access tokens",
            )
        ][:limit]


class TestWithdraw:
    def test_the_initiator_withdraws_an_open_debate(self, crew: Crew, debate: Debate) -> None:
        response = post(crew.ann_token, debate_url(debate, "withdraw"), {"reason": "settled"})

        body = body_of(response, 200)
        assert body["status"] == "withdrawn"
        assert body["awaiting"] == []
        assert body["rounds"][0]["outcome"] == "withdrawn"
        event = Event.objects.get(type="debate.withdrawn")
        assert (event.actor, event.payload["reason"]) == ("agent:ann", "settled")
        assert Delta.objects.filter(kind="debate").count() == 2

    def test_a_staff_human_withdraws_without_a_reason(self, crew: Crew, debate: Debate) -> None:
        response = human_client().post(debate_url(debate, "withdraw"), {}, format="json")

        assert body_of(response, 200)["status"] == "withdrawn"

    def test_another_participant_cannot_withdraw_it(self, crew: Crew, debate: Debate) -> None:
        with unchanged():
            error = error_of(
                post(crew.bob_token, debate_url(debate, "withdraw")), 403, "not_the_initiator"
            )
        assert "agent:ann" in error["message"]

    def test_a_human_who_is_not_staff_cannot_withdraw_it(self, crew: Crew, debate: Debate) -> None:
        viewer = member_client(crew.project, "viewer")
        with unchanged():
            error = error_of(
                viewer.post(debate_url(debate, "withdraw"), {}, format="json"),
                403,
                "role_required",
            )
        assert error["details"]["action"] == "decide_debates"
        assert error["details"]["needs_role"] == "lead"

    def test_a_closed_debate_cannot_be_withdrawn(self, crew: Crew, debate: Debate) -> None:
        body_of(post(crew.ann_token, debate_url(debate, "withdraw")), 200)

        with unchanged():
            error_of(post(crew.ann_token, debate_url(debate, "withdraw")), 409, "debate_not_open")

    def test_an_unknown_field_is_refused(self, crew: Crew, debate: Debate) -> None:
        with unchanged():
            error = error_of(
                post(crew.ann_token, debate_url(debate, "withdraw"), {"why": "x"}), 400
            )
        assert "Unknown field 'why'" in error["message"]


class TestDecide:
    @pytest.fixture
    def escalated(self, crew: Crew) -> Debate:
        return escalate_after_one_round(crew)

    def decide(self, debate: Debate, body: dict[str, Any]) -> Any:
        client = human_client(username="lead")
        return client.post(debate_url(debate, "decide"), body, format="json")

    def test_accepting_a_proposal_publishes_it_as_the_next_contract_version(
        self, crew: Crew, escalated: Debate
    ) -> None:
        response = self.decide(escalated, {"action": "accept", "proposal": "p2", "reason": "ok"})

        body = body_of(response, 200)
        assert body["status"] == "resolved"
        decision = body["decision"]
        assert (decision["kind"], decision["proposal"], decision["text"]) == (
            "accepted",
            "P2",
            SESSION,
        )
        assert (decision["decided_by"], decision["reason"]) == ("user:lead", "ok")
        assert [entry["agent"] for entry in decision["dissent"]] == ["ann"]
        assert decision["contract_version"] == 2
        version = ContractVersion.objects.get(contract__name="AuthAPI", number=2)
        assert version.spec == SESSION
        assert version.author == f"debate:{escalated.pk}"
        assert Event.objects.get(type="debate.decided").actor == "user:lead"

    def test_an_edited_decision_is_published_as_written(
        self, crew: Crew, escalated: Debate
    ) -> None:
        text = "POST /login -> {session_id, csrf_token}"
        response = self.decide(escalated, {"action": "edit", "text": text, "based_on": "P2"})

        decision = body_of(response, 200)["decision"]
        assert (decision["kind"], decision["text"], decision["proposal"]) == ("edited", text, "P2")
        assert ContractVersion.objects.get(contract__name="AuthAPI", number=2).spec == text

    def test_rejecting_every_proposal_leaves_the_contract_alone(
        self, crew: Crew, escalated: Debate
    ) -> None:
        response = self.decide(escalated, {"action": "reject", "reason": "keep tokens opaque"})

        body = body_of(response, 200)
        assert body["decision"]["kind"] == "rejected"
        assert body["decision"]["contract_version"] is None
        assert body["decision"]["reason"] == "keep tokens opaque"
        assert ContractVersion.objects.filter(contract__name="AuthAPI").count() == 1

    def test_returning_it_opens_a_fresh_blind_round_with_guidance(
        self, crew: Crew, escalated: Debate
    ) -> None:
        response = self.decide(escalated, {"action": "return", "guidance": "Mind mobile clients"})

        body = body_of(response, 200)
        assert (body["status"], body["round"], body["round_in_set"]) == ("open", 2, 1)
        assert body["blind"] is True
        assert body["guidance"] == "Mind mobile clients"
        assert body["awaiting"] == ["ann", "bob"]
        assert Event.objects.get(type="debate.returned").payload["round"] == 2

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({"action": "accept"}, "'accept' needs proposal"),
            ({"action": "edit", "based_on": "P1"}, "'edit' needs text"),
            ({"action": "reject"}, "'reject' needs reason"),
            ({"action": "reject", "reason": "   "}, "'reject' needs reason"),
            ({"action": "return", "guidance": ""}, "'return' needs guidance"),
            (
                {"action": "accept", "proposal": "P1", "guidance": "x"},
                "'accept' takes only proposal, reason; leave guidance out",
            ),
            ({"action": "return", "guidance": "x", "text": "y"}, "'return' takes only guidance"),
            ({"action": "approve", "proposal": "P1"}, "not a decision"),
            ({"proposal": "P1"}, "action"),
            ({"action": "accept", "proposal": "P9"}, "has no proposal 'P9'"),
            ({"action": "edit", "text": "x", "based_on": "P7"}, "has no proposal 'P7'"),
            ({"action": "accept", "proposal": "P1", "by": "me"}, "Unknown field 'by'"),
        ],
    )
    def test_a_decision_missing_what_its_action_needs_is_refused(
        self, crew: Crew, escalated: Debate, body: dict[str, Any], mentions: str
    ) -> None:
        with unchanged():
            error = error_of(self.decide(escalated, body), 400)
        assert mentions in error["message"]

    def test_an_agent_cannot_decide(self, crew: Crew, escalated: Debate) -> None:
        with unchanged():
            error = error_of(
                post(
                    crew.ann_token,
                    debate_url(escalated, "decide"),
                    {"action": "accept", "proposal": "P1"},
                ),
                403,
                "leads_only",
            )
        assert "Only a human lead" in error["message"]

    def test_a_human_who_is_not_staff_cannot_decide(self, crew: Crew, escalated: Debate) -> None:
        viewer = member_client(crew.project, "viewer")
        with unchanged():
            error = error_of(
                viewer.post(
                    debate_url(escalated, "decide"),
                    {"action": "accept", "proposal": "P1"},
                    format="json",
                ),
                403,
                "role_required",
            )
        assert error["details"]["action"] == "decide_debates"
        assert error["details"]["needs_role"] == "lead"

    def test_an_open_debate_cannot_be_decided(self, crew: Crew, debate: Debate) -> None:
        with unchanged():
            error = error_of(
                self.decide(debate, {"action": "accept", "proposal": "P1"}),
                409,
                "debate_not_escalated",
            )
        assert error["details"] == {"status": "open"}


class TestSearch:
    def test_without_a_provider_search_is_unavailable_and_says_how_to_configure_it(
        self, crew: Crew
    ) -> None:
        with unchanged():
            error = error_of(
                post(crew.ann_token, SEARCH, {"query": "jwt expiry"}), 503, "search_not_configured"
            )
        assert "PEERCODE_SEARCH_PROVIDER=nimble" in error["message"]
        assert SearchHit.objects.count() == 0

    def test_a_human_cannot_search(self, crew: Crew) -> None:
        error_of(human_client().post(SEARCH, {"query": "jwt"}, format="json"), 403, "agents_only")

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({}, "query"),
            ({"query": "x" * 401}, "query"),
            ({"query": "jwt", "limit": 11}, "limit"),
            ({"query": "jwt", "limit": 0}, "limit"),
            ({"query": "jwt", "provider": "nimble"}, "Unknown field 'provider'"),
        ],
    )
    def test_a_bad_search_is_refused(self, crew: Crew, body: dict[str, Any], mentions: str) -> None:
        error = error_of(post(crew.ann_token, SEARCH, body), 400)
        assert mentions in error["message"]


class TestAcrossProjects:
    def test_another_projects_token_cannot_read_or_list_this_projects_debates(
        self, crew: Crew, debate: Debate, beta: Beta
    ) -> None:
        zed = agent_client(beta.zed_token)
        error_of(zed.get(debate_url(debate)), 403, "wrong_project")
        error_of(zed.get(DEBATES), 403, "wrong_project")

    def test_another_projects_token_cannot_act_on_this_projects_debate(
        self, crew: Crew, debate: Debate, beta: Beta
    ) -> None:
        with unchanged():
            error_of(
                post(
                    beta.zed_token,
                    debate_url(debate, "turns"),
                    {"client_key": "k", "kind": "propose", "rationale": "r", "proposal": JWT},
                ),
                403,
                "wrong_project",
            )
            error_of(post(beta.zed_token, debate_url(debate, "withdraw")), 403, "wrong_project")
            error_of(post(beta.zed_token, SEARCH, {"query": "jwt"}), 403, "wrong_project")

    def test_a_debate_is_only_reached_through_its_own_projects_address(
        self, crew: Crew, beta: Beta
    ) -> None:
        elsewhere = debate_url(beta.debate)  # beta's debate id under alpha's address
        error_of(human_client().get(elsewhere), 404, "unknown_debate")
        with unchanged():
            error_of(
                human_client().post(elsewhere + "withdraw", {}, format="json"),
                404,
                "unknown_debate",
            )
        own = f"{API}/projects/beta/debates/{beta.debate.pk}/"
        assert body_of(human_client().get(own), 200)["id"] == beta.debate.pk

    def test_an_unknown_project_is_a_404(self, crew: Crew) -> None:
        error_of(human_client().get(API + "/projects/nope/debates/"), 404)
