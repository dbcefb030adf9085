"""REST API of the push queue: ask, status, complete, abandon.

The team and the checks that a refused request wrote nothing are those of
``test_api_locks.py`` (see ``tests/locks/api_support.py`` and ``conftest.py``).
"""

from __future__ import annotations

from typing import Any

import pytest

from locks import push
from locks.models import PushStatus, PushTicket
from peercode.events.models import Event
from projects.models import Agent
from tests.locks.api_support import (
    PATH,
    PUSH,
    SHA,
    TOO_BIG,
    Team,
    post,
    unchanged,
)
from tests.locks.push_support import Clock
from tests.projects.api_support import agent_client, error_of, human_client, member_client

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# The push queue


def ticket_url(ticket: PushTicket | int, action: str) -> str:
    pk = ticket if isinstance(ticket, int) else ticket.pk
    return f"{PUSH}{pk}/{action}"


class TestRequestPush:
    def test_the_first_agent_gets_the_turn_and_the_second_waits(self, team: Team) -> None:
        first = post(team.ann_token, PUSH, {"paths": ["./src/auth.py"]})
        second = post(team.bob_token, PUSH)

        assert first.status_code == 201, first.content
        assert second.status_code == 201, second.content
        ann, bob = first.json(), second.json()
        assert (ann["position"], ann["ticket"]["status"]) == (0, "active")
        assert ann["ticket"]["fencing_token"] is not None
        assert ann["ticket"]["paths"] == [PATH]
        assert ann["ticket"]["branch"] == "peer-progress"
        assert (bob["position"], bob["ticket"]["status"]) == (1, "waiting")
        assert ann["already_in_line"] is False
        assert ann["warnings"] == []

    def test_asking_again_returns_the_same_ticket_with_200(self, team: Team) -> None:
        first = post(team.ann_token, PUSH).json()
        again = post(team.ann_token, PUSH)
        assert again.status_code == 200, again.content
        assert again.json()["already_in_line"] is True
        assert again.json()["ticket"]["id"] == first["ticket"]["id"]

    def test_another_branch_has_its_own_line(self, team: Team) -> None:
        post(team.ann_token, PUSH)
        response = post(team.bob_token, PUSH, {"branch": "feature/login"})
        assert response.json()["position"] == 0
        assert response.json()["ticket"]["branch"] == "feature/login"

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({"branch": "a..b"}, "'..'"),
            ({"branch": "has space"}, "space"),
            ({"branch": ""}, "branch"),
            ({"branch": "x" * 201}, "branch"),
            ({"paths": "src/a.py"}, "paths"),
            ({"paths": ["../etc/passwd"]}, "'..'"),
            ({"paths": [7, []]}, "paths"),
            ({"paths": ["a.py"] * 501}, "500"),
            ({"ticket": 1}, "Unknown field 'ticket'"),
            ("peer-progress", "Expected a dictionary"),
        ],
    )
    def test_bad_bodies_are_400s_that_change_nothing(
        self, team: Team, body: Any, mentions: str
    ) -> None:
        with unchanged():
            error = error_of(post(team.ann_token, PUSH, body), 400)
        assert mentions in error["message"], error

    def test_humans_cannot_ask_to_push(self, team: Team) -> None:
        with unchanged():
            error_of(human_client().post(PUSH, {}, format="json"), 403, "agents_only")

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        with unchanged():
            error_of(post(cy_token, PUSH), 403, "wrong_project")


class TestPushStatus:
    def test_an_agent_sees_the_line_and_its_place(self, team: Team) -> None:
        ann = post(team.ann_token, PUSH).json()["ticket"]
        bob = post(team.bob_token, PUSH).json()["ticket"]

        body = agent_client(team.bob_token).get(PUSH).json()

        assert body["branch"] == "peer-progress"
        assert [(t["id"], t["position"]) for t in body["line"]] == [(ann["id"], 0), (bob["id"], 1)]
        assert (body["your_ticket"], body["your_position"]) == (bob["id"], 1)
        assert body["holder"]["agent"] == "ann"
        assert body["head"] is None

    def test_a_human_sees_the_line_and_who_holds_the_turn(self, team: Team) -> None:
        ann = post(team.ann_token, PUSH).json()["ticket"]

        body = human_client().get(PUSH).json()

        assert [t["id"] for t in body["line"]] == [ann["id"]]
        assert body["holder"]["ticket"] == ann["id"]
        assert body["holder"]["fencing_token"] == ann["fencing_token"]
        assert (body["your_ticket"], body["your_position"]) == (None, None)

    def test_a_lease_that_ran_out_passes_the_turn_before_anyone_reads(
        self, team: Team, clock: Clock
    ) -> None:
        post(team.ann_token, PUSH)
        bob = post(team.bob_token, PUSH).json()["ticket"]
        clock.advance(team.project.push_lease_seconds + 1)

        body = human_client().get(PUSH).json()

        assert body["holder"]["ticket"] == bob["id"]

    def test_another_branch_is_shown_on_request(self, team: Team) -> None:
        post(team.ann_token, PUSH, {"branch": "release"})
        body = agent_client(team.ann_token).get(PUSH, {"branch": "release"}).json()
        assert [t["agent"] for t in body["line"]] == ["ann"]
        assert agent_client(team.ann_token).get(PUSH).json()["line"] == []

    @pytest.mark.parametrize("client_kind", ["agent", "human"])
    @pytest.mark.parametrize(
        ("query", "mentions"),
        [({"branch": "a..b"}, "'..'"), ({"ticket": "1"}, "Unknown query parameter 'ticket'")],
    )
    def test_bad_queries_are_refused(
        self, team: Team, client_kind: str, query: dict[str, str], mentions: str
    ) -> None:
        client = agent_client(team.ann_token) if client_kind == "agent" else human_client()
        error = error_of(client.get(PUSH, query), 400)
        assert mentions in error["message"]

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        error_of(agent_client(cy_token).get(PUSH), 403, "wrong_project")


class TestCompletePush:
    def test_completing_records_the_commit_and_passes_the_turn(self, team: Team) -> None:
        ticket = post(team.ann_token, PUSH).json()["ticket"]
        waiting = post(team.bob_token, PUSH).json()["ticket"]

        response = post(
            team.ann_token,
            ticket_url(ticket["id"], "complete"),
            {"commit_sha": SHA.upper(), "fencing_token": ticket["fencing_token"]},
        )

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["status"], body["commit_sha"], body["violations"]) == ("completed", SHA, [])
        status = agent_client(team.ann_token).get(PUSH).json()
        assert status["head"] == SHA
        assert status["holder"]["ticket"] == waiting["id"]
        assert Event.objects.filter(type="push.completed").count() == 1

    def _turn(self, team: Team) -> dict[str, Any]:
        ticket: dict[str, Any] = post(team.ann_token, PUSH).json()["ticket"]
        return ticket

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({"fencing_token": 1}, "commit_sha: This field is required"),
            ({"commit_sha": SHA}, "fencing_token: This field is required"),
            ({"commit_sha": "xyz!", "fencing_token": 1}, "hexadecimal"),
            ({"commit_sha": "a" * 65, "fencing_token": 1}, "commit_sha"),
            ({"commit_sha": SHA, "fencing_token": 0}, "fencing_token"),
            ({"commit_sha": SHA, "fencing_token": TOO_BIG}, "fencing_token"),
            ({"commit_sha": SHA, "fencing_token": "one"}, "fencing_token"),
            ({"commit_sha": SHA, "fencing_token": 1, "branch": "x"}, "Unknown field 'branch'"),
        ],
    )
    def test_bad_bodies_are_400s_that_change_nothing(
        self, team: Team, body: Any, mentions: str
    ) -> None:
        ticket = self._turn(team)
        with unchanged():
            error = error_of(post(team.ann_token, ticket_url(ticket["id"], "complete"), body), 400)
        assert mentions in error["message"], error

    def test_a_wrong_fencing_token_is_a_409(self, team: Team) -> None:
        ticket = self._turn(team)
        body = {"commit_sha": SHA, "fencing_token": ticket["fencing_token"] + 1}
        with unchanged():
            error_of(
                post(team.ann_token, ticket_url(ticket["id"], "complete"), body),
                409,
                "stale_fencing_token",
            )

    def test_completing_before_ones_turn_is_a_409(self, team: Team) -> None:
        self._turn(team)
        bob = post(team.bob_token, PUSH).json()["ticket"]
        with unchanged():
            error_of(
                post(
                    team.bob_token,
                    ticket_url(bob["id"], "complete"),
                    {"commit_sha": SHA, "fencing_token": 1},
                ),
                409,
                "not_your_turn",
            )

    def test_another_agents_ticket_is_refused(self, team: Team) -> None:
        ticket = self._turn(team)
        body = {"commit_sha": SHA, "fencing_token": ticket["fencing_token"]}
        with unchanged():
            error_of(
                post(team.bob_token, ticket_url(ticket["id"], "complete"), body),
                403,
                "not_your_ticket",
            )

    def test_unknown_tickets_are_404s(self, team: Team, cy_token: str) -> None:
        cy = Agent.objects.get(name="cy")
        theirs = push.request_push(agent=cy).ticket
        body = {"commit_sha": SHA, "fencing_token": 1}
        with unchanged():
            for pk in (999, TOO_BIG, theirs.pk):
                error_of(post(team.ann_token, ticket_url(pk, "complete"), body), 404)

    def test_humans_are_refused(self, team: Team) -> None:
        ticket = self._turn(team)
        body = {"commit_sha": SHA, "fencing_token": ticket["fencing_token"]}
        with unchanged():
            error_of(
                human_client().post(ticket_url(ticket["id"], "complete"), body, format="json"),
                403,
                "agents_only",
            )

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        ticket = self._turn(team)
        body = {"commit_sha": SHA, "fencing_token": ticket["fencing_token"]}
        with unchanged():
            error_of(post(cy_token, ticket_url(ticket["id"], "complete"), body), 403)


class TestAbandonPush:
    def test_the_agent_leaves_and_the_turn_passes_on(self, team: Team) -> None:
        ticket = post(team.ann_token, PUSH).json()["ticket"]
        waiting = post(team.bob_token, PUSH).json()["ticket"]

        response = post(team.ann_token, ticket_url(ticket["id"], "abandon"))

        assert response.status_code == 200, response.content
        assert response.json()["status"] == "abandoned"
        assert PushTicket.objects.get(pk=waiting["id"]).status == PushStatus.ACTIVE
        assert Event.objects.get(type="push.abandoned").actor == "agent:ann"

    def test_a_staff_human_may_take_a_ticket_out_of_the_line(self, team: Team) -> None:
        ticket = post(team.ann_token, PUSH).json()["ticket"]
        response = human_client(username="alice").post(
            ticket_url(ticket["id"], "abandon"), {}, format="json"
        )
        assert response.status_code == 200, response.content
        assert Event.objects.get(type="push.abandoned").actor == "user:alice"

    def test_another_agent_or_a_human_who_is_not_staff_may_not(self, team: Team) -> None:
        ticket = post(team.ann_token, PUSH).json()["ticket"]
        url = ticket_url(ticket["id"], "abandon")
        viewer = member_client(team.project, "viewer")
        with unchanged():
            error_of(post(team.bob_token, url), 403, "not_your_ticket")
            error = error_of(viewer.post(url, {}, format="json"), 403, "role_required")
        assert error["details"]["action"] == "steer_locks"
        assert error["details"]["needs_role"] == "lead"

    def test_a_closed_ticket_is_a_409(self, team: Team) -> None:
        ticket = post(team.ann_token, PUSH).json()["ticket"]
        post(team.ann_token, ticket_url(ticket["id"], "abandon"))
        with unchanged():
            error_of(
                post(team.ann_token, ticket_url(ticket["id"], "abandon")), 409, "ticket_closed"
            )

    def test_a_body_is_refused(self, team: Team) -> None:
        ticket = post(team.ann_token, PUSH).json()["ticket"]
        with unchanged():
            error = error_of(
                post(team.ann_token, ticket_url(ticket["id"], "abandon"), {"why": "bored"}), 400
            )
        assert "Unknown field 'why'" in error["message"]

    def test_unknown_tickets_are_404s(self, team: Team, cy_token: str) -> None:
        theirs = push.request_push(agent=Agent.objects.get(name="cy")).ticket
        with unchanged():
            for pk in (999, TOO_BIG, theirs.pk):
                error_of(post(team.ann_token, ticket_url(pk, "abandon")), 404, "unknown_ticket")
                error_of(
                    human_client().post(ticket_url(pk, "abandon"), {}, format="json"),
                    404,
                    "unknown_ticket",
                )

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        ticket = post(team.ann_token, PUSH).json()["ticket"]
        with unchanged():
            error_of(post(cy_token, ticket_url(ticket["id"], "abandon")), 403, "wrong_project")
