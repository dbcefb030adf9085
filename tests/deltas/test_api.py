"""REST API of the delta stream: push, list, acknowledge, drift; and the coupling guard on the
task claim endpoint.

The crew (see :func:`crew`): 'owner' holds API-1, which provides the contract AuthAPI; 'web'
holds WEB-1, which consumes AuthAPI (WEB-2, also a consumer, is ready); 'docs' holds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from deltas import selectors
from deltas.models import AgentCursor, Delta, DeltaStream
from peercode.events.models import Event
from projects import services as plan
from projects.models import Agent, ContractVersion, CouplingGuard, Project, Task, TaskStatus
from tests.deltas.factories import push, set_coupling_guard
from tests.factories import make_agent, make_contract, make_project, make_task
from tests.projects.api_support import API, agent_client, error_of, human_client, snapshot

pytestmark = pytest.mark.django_db

DELTAS = API + "/projects/alpha/deltas/"
ACK = API + "/projects/alpha/deltas/ack"
DRIFT = API + "/projects/alpha/deltas/drift"


@dataclass
class Crew:
    project: Project
    owner: Agent
    owner_token: str
    web: Agent
    web_token: str
    docs: Agent
    docs_token: str


@pytest.fixture
def crew() -> Crew:
    project = make_project(slug="alpha", name="Alpha")
    owner, owner_token = make_agent(project, "owner")
    make_task(project, "API-1", file_globs=["api/**"])
    plan.claim_task(agent=owner, task_key="API-1")
    make_contract(project, "AuthAPI", owner="API-1", spec="POST /login")
    web, web_token = make_agent(project, "web")
    make_task(project, "WEB-1", consumes=["AuthAPI"], file_globs=["web/**"])
    make_task(project, "WEB-2", consumes=["AuthAPI"], file_globs=["web/admin/**"])
    plan.claim_task(agent=web, task_key="WEB-1")
    make_task(project, "DOC-1", file_globs=["docs/**"])
    docs, docs_token = make_agent(project, "docs")
    return Crew(project, owner, owner_token, web, web_token, docs, docs_token)


@pytest.fixture
def other_token() -> str:
    """A token of another project, 'beta'."""
    beta = make_project(slug="beta", name="Beta")
    _, token = make_agent(beta, "web")
    return token


def delta_snapshot() -> dict[str, Any]:
    return {
        **snapshot(),
        "deltas": list(Delta.objects.order_by("pk").values()),
        "streams": list(DeltaStream.objects.order_by("pk").values()),
        "cursors": list(AgentCursor.objects.order_by("pk").values()),
    }


@contextmanager
def unchanged() -> Iterator[None]:
    """Prove a refused request wrote nothing, deltas and cursors included."""
    before = delta_snapshot()
    yield
    after = delta_snapshot()
    for table, rows in before.items():
        assert after[table] == rows, f"{table} changed"


def post(token: str, url: str, body: Any) -> Any:
    return agent_client(token).post(url, body, format="json")


class TestPush:
    def test_an_agent_pushes_a_delta_and_gets_it_back_with_its_seq(self, crew: Crew) -> None:
        response = post(
            crew.web_token,
            DELTAS,
            {"kind": "discovery", "summary": "Sessions expire after 15 min", "tasks": ["WEB-1"]},
        )

        assert response.status_code == 201, response.content
        body = response.json()
        delta = Delta.objects.get(project=crew.project, seq=1)
        assert body == {
            "delta": selectors.as_dict(delta),
            "folded": False,
            "published_version": None,
        }
        assert body["delta"]["author"] == "agent:web"
        assert body["delta"]["significance"] == "normal"
        assert body["delta"]["tasks"] == ["WEB-1"]
        event = Event.objects.get(type="delta.pushed")
        assert (event.actor, event.subject) == ("agent:web", "delta:1")

    def test_a_human_pushes_a_breaking_delta(self, crew: Crew) -> None:
        response = human_client(username="alice").post(
            DELTAS,
            {"kind": "decision", "summary": "Use UUID ids", "significance": "breaking"},
            format="json",
        )

        assert response.status_code == 201, response.content
        assert response.json()["delta"]["author"] == "user:alice"
        assert response.json()["delta"]["significance"] == "breaking"
        assert Delta.objects.get().author is None

    def test_the_owner_publishes_the_next_contract_version(self, crew: Crew) -> None:
        response = post(
            crew.owner_token,
            DELTAS,
            {
                "kind": "contract_change",
                "summary": "login returns a refresh token",
                "contracts": ["AuthAPI"],
                "spec": "POST /login -> {access, refresh}",
                "rationale": "mobile clients stay logged in",
            },
        )

        assert response.status_code == 201, response.content
        body = response.json()
        assert body["published_version"] == 2
        assert body["delta"]["contract_version"] == 2
        version = ContractVersion.objects.get(contract__name="AuthAPI", number=2)
        assert version.spec == "POST /login -> {access, refresh}"
        assert version.rationale == "mobile clients stay logged in"

    def test_a_spec_from_a_non_owner_is_a_proposal(self, crew: Crew) -> None:
        response = post(
            crew.web_token,
            DELTAS,
            {
                "kind": "contract_change",
                "summary": "please add logout",
                "contracts": ["AuthAPI"],
                "spec": "POST /logout",
            },
        )

        assert response.status_code == 201, response.content
        body = response.json()
        assert body["published_version"] is None
        assert body["delta"]["contract_version"] is None
        assert body["delta"]["proposed_spec"] == "POST /logout"
        assert ContractVersion.objects.filter(contract__name="AuthAPI").count() == 1

    def test_a_repeated_push_is_folded_into_the_first(self, crew: Crew) -> None:
        body = {"kind": "blocker", "summary": "CI is red", "paths": ["web/app.py"]}
        first = post(crew.web_token, DELTAS, body)
        again = post(crew.web_token, DELTAS, body)

        assert first.status_code == 201, first.content
        assert again.status_code == 200, again.content
        assert again.json()["folded"] is True
        assert again.json()["delta"]["seq"] == 1
        assert again.json()["delta"]["folded"] == 1
        assert Delta.objects.count() == 1
        assert Event.objects.filter(type="delta.folded").count() == 1

    @pytest.mark.parametrize(
        ("body", "status", "mentions"),
        [
            ({"kind": "rumour", "summary": "x"}, 400, "not a delta kind"),
            ({"summary": "x"}, 400, "kind"),
            ({"kind": "discovery"}, 400, "summary"),
            ({"kind": "discovery", "summary": ""}, 400, "summary"),
            ({"kind": "discovery", "summary": "   "}, 400, "summary"),
            ({"kind": "discovery", "summary": "x" * 201}, 400, "summary"),
            ({"kind": "discovery", "summary": "x", "significance": "huge"}, 400, "significance"),
            ({"kind": "discovery", "summary": "x", "tasks": ["NOPE-9"]}, 400, "NOPE-9"),
            ({"kind": "discovery", "summary": "x", "tasks": "WEB-1"}, 400, "tasks"),
            ({"kind": "discovery", "summary": "x", "contracts": ["Nope"]}, 400, "Nope"),
            ({"kind": "discovery", "summary": "x", "paths": ["../etc"]}, 400, "relative"),
            ({"kind": "discovery", "summary": "x", "spec": "v2"}, 400, "contract_change"),
            (
                {"kind": "contract_change", "summary": "x", "spec": "v2"},
                400,
                "exactly one contract",
            ),
            ({"kind": "discovery", "summary": "x", "author": "owner"}, 400, "Unknown field"),
            ({"kind": "discovery", "summary": "x", "body": "x" * 20_001}, 400, "body"),
        ],
    )
    def test_a_bad_push_is_refused_and_nothing_is_written(
        self, crew: Crew, body: dict[str, Any], status: int, mentions: str
    ) -> None:
        with unchanged():
            error = error_of(post(crew.web_token, DELTAS, body), status)
        assert mentions in error["message"]

    def test_another_projects_token_cannot_push(self, crew: Crew, other_token: str) -> None:
        with unchanged():
            error = error_of(
                post(other_token, DELTAS, {"kind": "discovery", "summary": "x"}),
                403,
                "wrong_project",
            )
        assert "Use a token issued for 'alpha'" in error["message"]

    def test_pushing_needs_a_token(self, crew: Crew) -> None:
        with unchanged():
            error_of(agent_client("pc_not-a-token").post(DELTAS, {}, format="json"), 401)


class TestList:
    @pytest.fixture
    def feed(self, crew: Crew) -> Crew:
        """#1 touches WEB-1 (owner), #2 is docs' (DOC-1), #3 is a breaking decision by docs,
        #4 is web's own status."""
        push(crew.project, crew.owner, kind="discovery", summary="api moved", tasks=["WEB-1"])
        push(crew.project, crew.docs, kind="discovery", summary="docs moved", tasks=["DOC-1"])
        push(crew.project, crew.docs, kind="decision", summary="py3.12", significance="breaking")
        push(crew.project, crew.web, kind="status", summary="web half done")
        return crew

    def test_a_human_sees_the_whole_feed_in_order_without_relevance(self, feed: Crew) -> None:
        body = human_client().get(DELTAS).json()

        assert body["count"] == 4
        assert [d["seq"] for d in body["results"]] == [1, 2, 3, 4]
        first = Delta.objects.get(seq=1)
        assert body["results"][0] == selectors.as_dict(first)
        assert "relevant" not in body["results"][0]

    def test_an_agent_sees_what_concerns_it(self, feed: Crew) -> None:
        results = agent_client(feed.web_token).get(DELTAS).json()["results"]

        marks = {d["seq"]: (d["relevant"], d["breaking_for_you"]) for d in results}
        assert marks == {1: (True, False), 2: (False, False), 3: (True, True), 4: (False, False)}

    def test_only_relevant_keeps_the_deltas_that_concern_the_agent(self, feed: Crew) -> None:
        body = agent_client(feed.web_token).get(DELTAS, {"only_relevant": "true"}).json()

        assert body["count"] == 2
        assert [d["seq"] for d in body["results"]] == [1, 3]

    @pytest.mark.parametrize(
        ("query", "seqs"),
        [
            ({"kind": "discovery"}, [1, 2]),
            ({"significance": "breaking"}, [3]),
            ({"author": "docs"}, [2, 3]),
            ({"author": "nobody"}, []),
            ({"since": "2"}, [3, 4]),
            ({"since": "4"}, []),
            ({"kind": "discovery", "author": "docs"}, [2]),
            ({"limit": "2", "offset": "1"}, [2, 3]),
        ],
    )
    def test_filters(self, feed: Crew, query: dict[str, str], seqs: list[int]) -> None:
        response = agent_client(feed.docs_token).get(DELTAS, query)
        assert response.status_code == 200, response.content
        assert [d["seq"] for d in response.json()["results"]] == seqs

    @pytest.mark.parametrize(
        ("query", "mentions"),
        [
            ({"kind": "rumour"}, "not a delta kind"),
            ({"significance": "huge"}, "significance"),
            ({"since": "-1"}, "since"),
            ({"since": "two"}, "since"),
            ({"only_relevant": "maybe"}, "only_relevant"),
            ({"seq": "3"}, "Unknown query parameter 'seq'"),
        ],
    )
    def test_bad_filters_are_refused(
        self, feed: Crew, query: dict[str, str], mentions: str
    ) -> None:
        error = error_of(agent_client(feed.web_token).get(DELTAS, query), 400)
        assert mentions in error["message"]

    def test_only_relevant_needs_an_agent(self, feed: Crew) -> None:
        error = error_of(
            human_client().get(DELTAS, {"only_relevant": "true"}), 400, "only_relevant_needs_agent"
        )
        assert "agent token" in error["message"]

    def test_another_projects_token_cannot_list(self, feed: Crew, other_token: str) -> None:
        error_of(agent_client(other_token).get(DELTAS), 403, "wrong_project")

    def test_an_unknown_project_is_a_404(self, crew: Crew) -> None:
        error_of(human_client().get(API + "/projects/nope/deltas/"), 404)


class TestAcknowledge:
    def test_ack_moves_the_cursor_and_shrinks_the_drift(self, crew: Crew) -> None:
        push(crew.project, crew.owner, tasks=["WEB-1"])
        push(crew.project, crew.owner, tasks=["WEB-1"])
        before = agent_client(crew.web_token).get(DRIFT).json()
        assert len(before["drift"]) == 2

        response = post(crew.web_token, ACK, {"seq": 1})

        assert response.status_code == 200, response.content
        assert response.json() == {"cursor": 1, "head": 2, "drift": 1}
        assert AgentCursor.objects.get(agent=crew.web).acked_seq == 1
        event = Event.objects.get(type="deltas.acknowledged")
        assert (event.actor, event.payload) == ("agent:web", {"from": 0, "to": 1})

    def test_acking_an_older_seq_leaves_the_cursor_where_it_is(self, crew: Crew) -> None:
        push(crew.project, crew.owner)
        push(crew.project, crew.owner)
        post(crew.web_token, ACK, {"seq": 2})

        response = post(crew.web_token, ACK, {"seq": 1})

        assert response.status_code == 200, response.content
        assert response.json()["cursor"] == 2
        assert Event.objects.filter(type="deltas.acknowledged").count() == 1

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({"seq": 3}, "newest delta is 2"),
            ({"seq": -1}, "seq"),
            ({"seq": "two"}, "seq"),
            ({}, "seq"),
            ({"seq": 1, "agent": "owner"}, "Unknown field"),
        ],
    )
    def test_a_bad_ack_is_refused_and_nothing_is_written(
        self, crew: Crew, body: dict[str, Any], mentions: str
    ) -> None:
        push(crew.project, crew.owner)
        push(crew.project, crew.owner)
        with unchanged():
            error = error_of(post(crew.web_token, ACK, body), 400)
        assert mentions in error["message"]

    def test_acking_beyond_the_head_says_what_the_head_is(self, crew: Crew) -> None:
        with unchanged():
            error = error_of(post(crew.web_token, ACK, {"seq": 1}), 400, "ack_beyond_head")
        assert error["details"] == {"head": 0}

    def test_a_human_cannot_ack(self, crew: Crew) -> None:
        push(crew.project, crew.owner)
        with unchanged():
            error_of(human_client().post(ACK, {"seq": 1}, format="json"), 403, "agents_only")

    def test_another_projects_token_cannot_ack(self, crew: Crew, other_token: str) -> None:
        push(crew.project, crew.owner)
        with unchanged():
            error_of(post(other_token, ACK, {"seq": 1}), 403, "wrong_project")


class TestDrift:
    def test_a_human_sees_every_agents_acknowledgement(self, crew: Crew) -> None:
        push(crew.project, crew.owner)
        push(crew.project, crew.owner)
        post(crew.web_token, ACK, {"seq": 1})

        body = human_client().get(DRIFT).json()

        assert body["head"] == 2
        assert body["cursor"] is None
        assert body["drift"] is None
        rows = {row["agent"]: row for row in body["agents"]}
        assert rows["web"] == {
            "agent": "web",
            "acked_seq": 1,
            "behind": 1,
            "pushed": 0,
            "acknowledged_share": 0.5,
        }
        assert rows["owner"]["pushed"] == 2
        assert set(rows) == {"owner", "web", "docs"}

    def test_an_agent_sees_its_own_unacknowledged_relevant_deltas(self, crew: Crew) -> None:
        push(crew.project, crew.owner, summary="web-related", tasks=["WEB-1"])
        push(crew.project, crew.owner, summary="unrelated", tasks=["DOC-1"])
        push(crew.project, crew.docs, summary="everyone", significance="breaking")

        body = agent_client(crew.web_token).get(DRIFT).json()

        assert body["cursor"] == 0
        assert [(d["seq"], d["summary"]) for d in body["drift"]] == [
            (1, "web-related"),
            (3, "everyone"),
        ]
        assert all(d["relevant"] for d in body["drift"])

    def test_another_projects_token_cannot_see_the_drift(
        self, crew: Crew, other_token: str
    ) -> None:
        error_of(agent_client(other_token).get(DRIFT), 403, "wrong_project")


class TestClaimCouplingGuard:
    """Claiming a task is acting on the code: the guard speaks first."""

    CLAIM = API + "/projects/alpha/tasks/WEB-2/claim"

    def publish_breaking_change(self, crew: Crew) -> int:
        result = push(
            crew.project,
            crew.owner,
            kind="contract_change",
            summary="login returns a refresh token",
            contracts=["AuthAPI"],
            spec="POST /login -> {access, refresh}",
        )
        return result.delta.seq

    def test_without_a_breaking_change_the_claim_has_no_warnings(self, crew: Crew) -> None:
        response = agent_client(crew.web_token).post(self.CLAIM)

        assert response.status_code == 200, response.content
        assert response.json()["warnings"] == []
        assert response.json()["status"] == "in_progress"

    def test_warn_mode_claims_and_names_the_unacknowledged_change(self, crew: Crew) -> None:
        seq = self.publish_breaking_change(crew)

        response = agent_client(crew.web_token).post(self.CLAIM)

        assert response.status_code == 200, response.content
        [warning] = response.json()["warnings"]
        assert f"#{seq}" in warning
        assert "login returns a refresh token" in warning
        assert Task.objects.get(key="WEB-2").assignee == crew.web

    def test_refuse_mode_refuses_the_claim_and_changes_nothing(self, crew: Crew) -> None:
        set_coupling_guard(crew.project, CouplingGuard.REFUSE)
        seq = self.publish_breaking_change(crew)

        with unchanged():
            error = error_of(
                agent_client(crew.web_token).post(self.CLAIM), 409, "unacknowledged_breaking_change"
            )

        assert f"#{seq}" in error["message"]
        assert "login returns a refresh token" in error["message"]
        assert error["details"] == {"seqs": [seq]}
        assert Task.objects.get(key="WEB-2").status == TaskStatus.READY

    def test_after_acknowledging_the_claim_goes_through_in_refuse_mode(self, crew: Crew) -> None:
        set_coupling_guard(crew.project, CouplingGuard.REFUSE)
        seq = self.publish_breaking_change(crew)
        post(crew.web_token, ACK, {"seq": seq})

        response = agent_client(crew.web_token).post(self.CLAIM)

        assert response.status_code == 200, response.content
        assert response.json()["warnings"] == []

    def test_an_agent_not_consuming_the_contract_gets_no_warning(self, crew: Crew) -> None:
        set_coupling_guard(crew.project, CouplingGuard.REFUSE)
        self.publish_breaking_change(crew)

        response = agent_client(crew.docs_token).post(API + "/projects/alpha/tasks/DOC-1/claim")

        assert response.status_code == 200, response.content
        assert response.json()["warnings"] == []
