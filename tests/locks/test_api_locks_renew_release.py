"""REST API of locks: renewing and releasing a lease (its holder, or a human lead or staff).

The team and the checks that a refused request wrote nothing are those of
``test_api_locks.py`` (see ``tests/locks/api_support.py`` and ``conftest.py``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from locks.models import Lock, LockStatus
from peercode.events.models import Event
from projects.models import Agent
from tests.locks.api_support import (
    TOO_BIG,
    Team,
    acquire,
    lock_url,
    post,
    unchanged,
)
from tests.locks.push_support import Clock
from tests.projects.api_support import error_of, human_client, member_client

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# POST locks/{id}/renew


class TestRenew:
    def test_the_holder_extends_its_lease(self, team: Team, clock: Clock) -> None:
        lock = acquire(team.ann, ttl_seconds=60).lock
        clock.advance(30)

        response = post(team.ann_token, lock_url(lock, "renew"), {"ttl_seconds": 600})

        assert response.status_code == 200, response.content
        lock.refresh_from_db()
        assert lock.ttl_seconds == 600
        assert lock.expires_at is not None
        assert lock.renewed_at is not None
        assert lock.expires_at == lock.renewed_at + timedelta(seconds=600)
        assert response.json()["fencing_token"] == 1
        assert Event.objects.get(type="lock.renewed").actor == "agent:ann"

    def test_without_a_ttl_it_renews_for_the_locks_own_ttl(self, team: Team) -> None:
        lock = acquire(team.ann, ttl_seconds=60).lock
        response = post(team.ann_token, lock_url(lock, "renew"))
        assert response.status_code == 200, response.content
        assert response.json()["ttl_seconds"] == 60

    def test_a_staff_human_may_renew(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        response = human_client(username="alice").post(lock_url(lock, "renew"), {}, format="json")
        assert response.status_code == 200, response.content
        assert Event.objects.get(type="lock.renewed").actor == "user:alice"

    def test_a_human_who_is_not_staff_may_not(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        viewer = member_client(team.project, "viewer")
        with unchanged():
            error = error_of(
                viewer.post(lock_url(lock, "renew"), {}, format="json"), 403, "role_required"
            )
        assert error["details"]["action"] == "steer_locks"
        assert error["details"]["needs_role"] == "lead"

    def test_another_agent_may_not(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        with unchanged():
            error = error_of(post(team.bob_token, lock_url(lock, "renew")), 403, "not_lock_holder")
        assert "ann" in error["message"]

    def test_an_expired_lease_cannot_be_renewed(self, team: Team, clock: Clock) -> None:
        lock = acquire(team.ann, ttl_seconds=10).lock
        clock.advance(11)
        with unchanged():
            error = error_of(post(team.ann_token, lock_url(lock, "renew")), 409, "lock_expired")
        assert "Acquire it again" in error["message"]

    def test_a_released_lock_cannot_be_renewed(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        post(team.ann_token, lock_url(lock, "release"))
        with unchanged():
            error_of(post(team.ann_token, lock_url(lock, "renew")), 409, "lock_not_held")

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({"ttl_seconds": 1}, "out of bounds"),
            ({"ttl_seconds": 10**9}, "out of bounds"),
            ({"ttl_seconds": "long"}, "ttl_seconds"),
            ({"ttl_seconds": True}, "ttl_seconds"),
            ({"ttl": 60}, "Unknown field 'ttl'"),
            (["ttl_seconds"], "Expected a dictionary"),
        ],
    )
    def test_bad_bodies_are_400s_that_change_nothing(
        self, team: Team, body: Any, mentions: str
    ) -> None:
        lock = acquire(team.ann).lock
        with unchanged():
            error = error_of(post(team.ann_token, lock_url(lock, "renew"), body), 400)
        assert mentions in error["message"], error

    def test_unknown_lock_and_other_projects_lock_are_404s(self, team: Team, cy_token: str) -> None:
        theirs = acquire(Agent.objects.get(name="cy")).lock
        with unchanged():
            error_of(post(team.ann_token, lock_url(999, "renew")), 404, "unknown_lock")
            error_of(post(team.ann_token, lock_url(TOO_BIG, "renew")), 404, "unknown_lock")
            error_of(
                human_client().post(lock_url(theirs, "renew"), {}, format="json"),
                404,
                "unknown_lock",
            )

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        lock = acquire(team.ann).lock
        with unchanged():
            error_of(post(cy_token, lock_url(lock, "renew")), 403, "wrong_project")


# ---------------------------------------------------------------------------------------------
# POST locks/{id}/release


class TestRelease:
    def test_the_holder_releases_and_the_next_in_line_gets_it(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        waiting = acquire(team.bob, wait=True).lock

        response = post(team.ann_token, lock_url(lock, "release"))

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["status"], body["released_by"]) == ("released", "agent:ann")
        waiting.refresh_from_db()
        assert (waiting.status, waiting.fencing_token) == (LockStatus.HELD, 2)
        assert [event.type for event in Event.objects.filter(type__startswith="lock.")][-2:] == [
            "lock.released",
            "lock.granted",
        ]

    def test_releasing_a_waiting_request_leaves_the_line(self, team: Team) -> None:
        acquire(team.ann)
        waiting = acquire(team.bob, wait=True).lock
        response = post(team.bob_token, lock_url(waiting, "release"))
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "cancelled"

    def test_a_staff_human_may_release(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        response = human_client(username="alice").post(lock_url(lock, "release"), {}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["released_by"] == "user:alice"

    def test_another_agent_may_not(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        with unchanged():
            error_of(post(team.bob_token, lock_url(lock, "release")), 403, "not_lock_holder")

    def test_a_human_who_is_not_staff_may_not(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        viewer = member_client(team.project, "viewer")
        with unchanged():
            error = error_of(
                viewer.post(lock_url(lock, "release"), {}, format="json"), 403, "role_required"
            )
        assert error["details"]["action"] == "steer_locks"
        assert error["details"]["needs_role"] == "lead"

    def test_releasing_twice_is_a_409(self, team: Team) -> None:
        lock = acquire(team.ann).lock
        post(team.ann_token, lock_url(lock, "release"))
        with unchanged():
            error = error_of(post(team.ann_token, lock_url(lock, "release")), 409, "lock_not_held")
        assert "released" in error["message"]

    def test_an_expired_lease_is_a_409(self, team: Team, clock: Clock) -> None:
        lock = acquire(team.ann, ttl_seconds=10).lock
        clock.advance(11)
        error_of(post(team.ann_token, lock_url(lock, "release")), 409, "lock_expired")
        assert Lock.objects.get(pk=lock.pk).released_at is None

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({"force": True}, "Unknown field 'force'"),
            ([], "Expected a dictionary"),
        ],
    )
    def test_a_body_is_refused(self, team: Team, body: Any, mentions: str) -> None:
        lock = acquire(team.ann).lock
        with unchanged():
            error = error_of(post(team.ann_token, lock_url(lock, "release"), body), 400)
        assert mentions in error["message"]

    def test_unknown_lock_and_other_projects_lock_are_404s(self, team: Team, cy_token: str) -> None:
        theirs = acquire(Agent.objects.get(name="cy")).lock
        with unchanged():
            error_of(post(team.ann_token, lock_url(999, "release")), 404, "unknown_lock")
            error_of(
                human_client().post(lock_url(theirs, "release"), {}, format="json"),
                404,
                "unknown_lock",
            )

    def test_another_projects_token_is_refused(self, team: Team, cy_token: str) -> None:
        lock = acquire(team.ann).lock
        with unchanged():
            error_of(post(cy_token, lock_url(lock, "release")), 403, "wrong_project")
