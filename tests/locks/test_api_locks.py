"""REST API of locks: list, acquire, show, and the dry run.

The team (the ``team`` fixture in ``conftest.py``): agents 'ann' and 'bob' of project 'alpha';
'beta' is another project whose agent 'cy' must not reach alpha's locks. Every refused request
is checked to have written nothing (:func:`tests.locks.api_support.unchanged`), except a lock
conflict, which by design records its ``lock.refused`` event.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from deltas.models import DeltaKind
from locks import services
from locks.models import Lock, LockStatus
from peercode.actors import Actor
from peercode.events.models import Event
from projects import services as plan
from projects.models import Agent, CouplingGuard
from tests.deltas.factories import push as push_delta
from tests.deltas.factories import set_coupling_guard
from tests.factories import make_agent, make_contract, make_task
from tests.locks.api_support import (
    CHECK,
    LOCKS,
    PATH,
    TOO_BIG,
    Team,
    acquire,
    lock_snapshot,
    lock_url,
    post,
    unchanged,
)
from tests.locks.push_support import Clock
from tests.projects.api_support import API, agent_client, error_of, human_client

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# GET locks/


class TestListLocks:
    def test_an_agent_sees_live_locks_and_the_waiting_line(self, team: Team) -> None:
        held = acquire(team.ann).lock
        waiting = acquire(team.bob, wait=True).lock

        response = agent_client(team.bob_token).get(LOCKS)

        assert response.status_code == 200, response.content
        body = response.json()
        assert [lock["id"] for lock in body["locks"]] == [held.pk]
        assert body["locks"][0]["holder"] == "ann"
        assert body["locks"][0]["fencing_token"] == 1
        assert [(lock["id"], lock["position"]) for lock in body["waiting"]] == [(waiting.pk, 1)]

    def test_released_and_expired_locks_are_not_listed(self, team: Team, clock: Clock) -> None:
        services.release_lock(actor=Actor.for_agent(team.ann), lock_id=acquire(team.ann).lock.pk)
        acquire(team.bob, path="b.py", ttl_seconds=10)
        clock.advance(11)

        body = agent_client(team.ann_token).get(LOCKS).json()

        assert body == {"locks": [], "waiting": []}

    def test_filters_by_holder_and_by_normalized_path(self, team: Team) -> None:
        mine = acquire(team.ann).lock
        acquire(team.bob, path="other.py")
        client = human_client()

        by_holder = client.get(LOCKS, {"holder": "ann"}).json()
        by_path = client.get(LOCKS, {"path": "./src//auth.py"}).json()

        assert [lock["id"] for lock in by_holder["locks"]] == [mine.pk]
        assert [lock["id"] for lock in by_path["locks"]] == [mine.pk]

    @pytest.mark.parametrize(
        ("query", "mentions"),
        [
            ({"path": "../etc/passwd"}, "'..'"),
            ({"path": "/abs.py"}, "absolute"),
            ({"holder": "x" * 65}, "holder"),
            ({"mine": "true"}, "Unknown query parameter 'mine'"),
        ],
    )
    def test_bad_filters_are_refused(
        self, team: Team, query: dict[str, str], mentions: str
    ) -> None:
        error = error_of(agent_client(team.ann_token).get(LOCKS, query), 400)
        assert mentions in error["message"]

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        error_of(agent_client(cy_token).get(LOCKS), 403, "wrong_project")

    def test_an_unknown_project_is_a_404(self, team: Team) -> None:
        error_of(human_client().get(API + "/projects/nope/locks/"), 404)

    def test_no_token_is_a_401(self, team: Team) -> None:
        error_of(APIClient().get(LOCKS), 401)


# ---------------------------------------------------------------------------------------------
# POST locks/


class TestAcquire:
    def test_a_free_lock_is_granted_with_a_fencing_token(self, team: Team) -> None:
        response = post(
            team.ann_token,
            LOCKS,
            {
                "path": "src\\auth.py",
                "scope": "lines",
                "start_line": 10,
                "end_line": 20,
                "mode": "exclusive",
                "ttl_seconds": 120,
                "reason": "fix login",
                "task": "T-1",
            },
        )

        assert response.status_code == 201, response.content
        body = response.json()
        assert body["granted"] is True
        assert body["position"] is None
        assert body["warnings"] == []
        lock = Lock.objects.get()
        assert body["lock"]["id"] == lock.pk
        assert (lock.path, lock.start_line, lock.end_line) == (PATH, 10, 20)
        assert (lock.status, lock.fencing_token, lock.ttl_seconds) == (LockStatus.HELD, 1, 120)
        assert (lock.reason, lock.task.key if lock.task else None) == ("fix login", "T-1")
        event = Event.objects.get(type="lock.granted")
        assert (event.actor, event.subject) == ("agent:ann", f"lock:{lock.pk}")

    def test_defaults_lock_the_whole_file_exclusively(self, team: Team) -> None:
        response = post(team.ann_token, LOCKS, {"path": PATH})

        assert response.status_code == 201, response.content
        lock = response.json()["lock"]
        assert (lock["scope"], lock["mode"], lock["holder"]) == ("file", "exclusive", "ann")
        assert lock["ttl_seconds"] == team.project.default_lock_ttl_seconds

    def test_a_conflict_is_a_409_naming_the_holder_and_records_only_the_refusal(
        self, team: Team
    ) -> None:
        held = acquire(team.ann, scope="lines", start_line=1, end_line=50).lock
        before = lock_snapshot()

        error = error_of(
            post(
                team.bob_token,
                LOCKS,
                {"path": PATH, "scope": "lines", "start_line": 40, "end_line": 60},
            ),
            409,
            "lock_conflict",
        )

        [conflict] = error["details"]["conflicts"]
        assert (conflict["id"], conflict["holder"]) == (held.pk, "ann")
        assert (conflict["start_line"], conflict["end_line"], conflict["mode"]) == (
            1,
            50,
            "exclusive",
        )
        assert conflict["expires_at"]
        assert "ann" in error["message"]
        assert "wait=true" in error["message"]
        after = lock_snapshot()
        assert after["locks"] == before["locks"]
        assert after["spaces"] == before["spaces"]
        assert after["events"] == before["events"] + 1
        refusal = Event.objects.get(type="lock.refused")
        assert (refusal.actor, refusal.payload["conflicts"][0]["id"]) == ("agent:bob", held.pk)

    def test_with_wait_it_joins_the_line_and_is_granted_when_the_holder_releases(
        self, team: Team
    ) -> None:
        held = acquire(team.ann).lock

        response = post(team.bob_token, LOCKS, {"path": PATH, "wait": True})

        assert response.status_code == 202, response.content
        body = response.json()
        assert (body["granted"], body["position"]) == (False, 1)
        assert (body["lock"]["status"], body["lock"]["position"]) == ("waiting", 1)
        assert body["lock"]["fencing_token"] is None
        post(team.ann_token, lock_url(held, "release"))
        granted = agent_client(team.bob_token).get(lock_url(body["lock"]["id"])).json()
        assert (granted["status"], granted["fencing_token"]) == ("held", 2)

    def test_unacknowledged_breaking_changes_come_back_as_warnings(self, team: Team) -> None:
        consumer = self._consumer(team)

        response = post(consumer, LOCKS, {"path": PATH})

        assert response.status_code == 201, response.content
        [warning] = response.json()["warnings"]
        assert "login returns a refresh token" in warning

    def test_a_refusing_coupling_guard_refuses_before_anything_is_written(self, team: Team) -> None:
        consumer = self._consumer(team)
        set_coupling_guard(team.project, CouplingGuard.REFUSE)

        with unchanged():
            error_of(post(consumer, LOCKS, {"path": PATH}), 409, "unacknowledged_breaking_change")

    @staticmethod
    def _consumer(team: Team) -> str:
        plan.claim_task(agent=team.ann, task_key="T-1")
        make_contract(team.project, "AuthAPI", owner="T-1", spec="POST /login")
        consumer, token = make_agent(team.project, "consumer")
        make_task(team.project, "USE", consumes=["AuthAPI"])
        plan.claim_task(agent=consumer, task_key="USE")
        push_delta(
            team.project,
            team.ann,
            kind=DeltaKind.CONTRACT_CHANGE,
            summary="login returns a refresh token",
            contracts=["AuthAPI"],
            spec="POST /login -> refresh",
        )
        return token

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({}, "path: This field is required"),
            ({"path": ""}, "path"),
            ({"path": "   "}, "path"),
            ({"path": "../etc/passwd"}, "'..'"),
            ({"path": "/home/me/repo/a.py"}, "absolute"),
            ({"path": "C:/repo/a.py"}, "absolute"),
            ({"path": "src/"}, "directory"),
            ({"path": "x" * 1001}, "path"),
            ({"path": ["a.py"]}, "path"),
            ({"path": PATH, "scope": "folder"}, "not a lock scope"),
            ({"path": PATH, "mode": "write"}, "not a lock mode"),
            ({"path": PATH, "scope": "lines"}, "needs start_line and end_line"),
            ({"path": PATH, "scope": "lines", "start_line": 3}, "both start_line and end_line"),
            ({"path": PATH, "scope": "lines", "start_line": 0, "end_line": 4}, "start_line"),
            ({"path": PATH, "scope": "lines", "start_line": 9, "end_line": 4}, "inverted"),
            ({"path": PATH, "scope": "lines", "start_line": 1, "end_line": 10**20}, "end_line"),
            ({"path": PATH, "scope": "lines", "start_line": "ten", "end_line": 12}, "start_line"),
            ({"path": PATH, "scope": "section"}, "section"),
            ({"path": PATH, "section": "AuthService.login"}, "section"),
            ({"path": PATH, "ttl_seconds": 1}, "out of bounds"),
            ({"path": PATH, "ttl_seconds": 10**9}, "out of bounds"),
            ({"path": PATH, "ttl_seconds": "soon"}, "ttl_seconds"),
            ({"path": PATH, "reason": "x" * 501}, "reason"),
            ({"path": PATH, "task": "NOPE-1"}, "Unknown task 'NOPE-1'"),
            ({"path": PATH, "wait": "maybe"}, "wait"),
            ({"path": PATH, "holder": "bob"}, "Unknown field 'holder'"),
            ([{"path": PATH}], "Expected a dictionary"),
        ],
    )
    def test_bad_bodies_are_400s_that_change_nothing(
        self, team: Team, body: Any, mentions: str
    ) -> None:
        acquire(team.bob, path="held.py")
        with unchanged():
            error = error_of(post(team.ann_token, LOCKS, body), 400)
        assert mentions in error["message"], error

    def test_malformed_json_is_a_400(self, team: Team) -> None:
        client = agent_client(team.ann_token)
        with unchanged():
            error_of(client.post(LOCKS, "{not json", content_type="application/json"), 400)

    def test_a_human_cannot_hold_locks(self, team: Team) -> None:
        with unchanged():
            error = error_of(human_client().post(LOCKS, {"path": PATH}, format="json"), 403)
        assert error["code"] == "agents_only"
        assert "locks" in error["message"]

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        with unchanged():
            error_of(post(cy_token, LOCKS, {"path": PATH}), 403, "wrong_project")


# ---------------------------------------------------------------------------------------------
# GET locks/{id}/


class TestShowLock:
    def test_a_lock_is_shown_live_or_not(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        services.release_lock(actor=Actor.for_agent(team.ann), lock_id=lock.pk)

        body = agent_client(team.bob_token).get(lock_url(lock)).json()

        assert (body["id"], body["status"], body["released_by"]) == (
            lock.pk,
            "released",
            "agent:ann",
        )

    def test_an_unknown_or_absurd_id_is_a_404(self, team: Team) -> None:
        client = agent_client(team.ann_token)
        error_of(client.get(lock_url(999)), 404, "unknown_lock")
        error_of(client.get(lock_url(TOO_BIG)), 404, "unknown_lock")

    def test_another_projects_lock_is_not_found_through_this_project(
        self, team: Team, cy_token: str
    ) -> None:
        beta_agent = Agent.objects.get(name="cy")
        theirs = acquire(beta_agent).lock
        error_of(human_client().get(lock_url(theirs)), 404, "unknown_lock")
        error_of(agent_client(team.ann_token).get(lock_url(theirs)), 404, "unknown_lock")

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        lock = acquire(team.ann).lock
        error_of(agent_client(cy_token).get(lock_url(lock)), 403, "wrong_project")


# ---------------------------------------------------------------------------------------------
# POST locks/check


class TestCheck:
    def test_it_says_what_is_free_and_who_is_in_the_way_and_writes_nothing(
        self, team: Team
    ) -> None:
        held = acquire(team.ann, scope="lines", start_line=1, end_line=10).lock

        with unchanged():
            response = post(
                team.bob_token,
                CHECK,
                {
                    "locks": [
                        {"path": PATH, "scope": "lines", "start_line": 5, "end_line": 6},
                        {"path": PATH, "scope": "lines", "start_line": 11, "end_line": 12},
                        {"path": "./other.py", "mode": "shared"},
                    ]
                },
            )

        assert response.status_code == 200, response.content
        answers = response.json()["answers"]
        assert [answer["free"] for answer in answers] == [False, True, True]
        assert [lock["id"] for lock in answers[0]["conflicts"]] == [held.pk]
        assert answers[0]["conflicts"][0]["holder"] == "ann"
        assert (answers[2]["path"], answers[2]["mode"]) == ("other.py", "shared")

    def test_ones_own_locks_are_never_in_the_way(self, team: Team) -> None:
        acquire(team.ann)
        answers = post(team.ann_token, CHECK, {"locks": [{"path": PATH}]}).json()["answers"]
        assert answers[0]["free"] is True

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({}, "locks: This field is required"),
            ({"locks": []}, "locks"),
            ({"locks": "a.py"}, "locks"),
            ({"locks": ["a.py"]}, "Expected a dictionary"),
            ({"locks": [{"path": "a.py"}, {"path": "/abs"}]}, "specs[1]"),
            ({"locks": [{"path": "a.py", "colour": "red"}]}, "Unknown field 'colour'"),
            ({"locks": [{"path": "a.py", "scope": "lines"}]}, "start_line"),
            ({"locks": [{"path": "a.py"}] * 101}, "locks"),
            ({"locks": [{"path": "a.py"}], "wait": True}, "Unknown field 'wait'"),
        ],
    )
    def test_bad_bodies_are_400s_that_change_nothing(
        self, team: Team, body: Any, mentions: str
    ) -> None:
        with unchanged():
            error = error_of(post(team.ann_token, CHECK, body), 400)
        assert mentions in error["message"], error

    def test_humans_are_refused(self, team: Team) -> None:
        error_of(human_client().post(CHECK, {"locks": [{"path": PATH}]}, format="json"), 403)

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        error_of(post(cy_token, CHECK, {"locks": [{"path": PATH}]}), 403, "wrong_project")
