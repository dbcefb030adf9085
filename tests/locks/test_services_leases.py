"""Lock services: renewing and releasing leases, force-release, and the events a replay needs.

Time is controlled by the ``clock`` fixture (``conftest.py``), which replaces
``django.utils.timezone.now`` (the clock the services, selectors and the event log read) with one
that moves only when a test says so (and by one microsecond per reading, so that events keep
their order).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from locks import selectors, services
from locks.models import LockStatus
from peercode.actors import Actor
from peercode.errors import Conflict, PermissionDenied, ValidationFailed
from peercode.events.models import Event
from projects.models import Agent, Membership, Project, Role
from tests.factories import make_user
from tests.locks.push_support import Clock
from tests.locks.services_support import PATH, acquire, events, lines, me, status_of

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# Leases


class TestLeases:
    def test_renewing_extends_the_lease_from_now_and_keeps_the_token(
        self, project: Project, ann: Agent, clock: Clock
    ) -> None:
        lock = acquire(ann, ttl_seconds=60).lock
        clock.advance(50)
        renewed = services.renew_lock(actor=me(ann), lock_id=lock.pk, ttl_seconds=120)
        assert renewed.renewed_at is not None
        assert renewed.expires_at == renewed.renewed_at + timedelta(seconds=120)
        assert renewed.fencing_token == lock.fencing_token
        [event] = events(project, "lock.renewed")
        assert event.payload["lock"] == lock.pk
        assert renewed.expires_at is not None
        assert event.payload["expires_at"] == renewed.expires_at.isoformat()
        assert event.payload["at"] == renewed.renewed_at.isoformat()

    def test_renewing_without_a_ttl_uses_the_locks_own(self, ann: Agent, clock: Clock) -> None:
        lock = acquire(ann, ttl_seconds=30).lock
        clock.advance(20)
        renewed = services.renew_lock(actor=me(ann), lock_id=lock.pk)
        assert renewed.expires_at == renewed.renewed_at + timedelta(seconds=30)  # type: ignore[operator]

    def test_renewing_beyond_the_maximum_is_refused(self, ann: Agent) -> None:
        lock = acquire(ann).lock
        with pytest.raises(ValidationFailed) as excinfo:
            services.renew_lock(actor=me(ann), lock_id=lock.pk, ttl_seconds=10_000)
        assert excinfo.value.code == "ttl_out_of_bounds"

    def test_renewing_an_expired_lock_is_refused_even_before_the_sweep(
        self, ann: Agent, clock: Clock
    ) -> None:
        lock = acquire(ann, ttl_seconds=10).lock
        clock.advance(11)
        with pytest.raises(Conflict) as excinfo:
            services.renew_lock(actor=me(ann), lock_id=lock.pk)
        assert excinfo.value.code == "lock_expired"
        assert "Acquire it again" in excinfo.value.message
        assert status_of(lock) == LockStatus.HELD  # the row waits for the sweep

    def test_renewing_a_released_lock_is_refused(self, ann: Agent) -> None:
        lock = acquire(ann).lock
        services.release_lock(actor=me(ann), lock_id=lock.pk)
        with pytest.raises(Conflict) as excinfo:
            services.renew_lock(actor=me(ann), lock_id=lock.pk)
        assert excinfo.value.code == "lock_not_held"
        assert "released" in excinfo.value.message
        assert "Acquire it again" in excinfo.value.message

    def test_releasing_ends_the_lease_and_frees_the_lines(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        lock = lines(ann, 1, 10).lock
        released = services.release_lock(actor=me(ann), lock_id=lock.pk)
        assert released.status == LockStatus.RELEASED
        assert released.released_by == "agent:ann"
        assert lines(bob, 5, 6).granted
        [event] = events(project, "lock.released")
        assert event.payload["lock"] == lock.pk
        assert event.actor == "agent:ann"

    def test_releasing_twice_is_refused_the_second_time(self, ann: Agent) -> None:
        lock = acquire(ann).lock
        services.release_lock(actor=me(ann), lock_id=lock.pk)
        with pytest.raises(Conflict) as excinfo:
            services.release_lock(actor=me(ann), lock_id=lock.pk)
        assert excinfo.value.code == "lock_not_held"

    def test_releasing_an_expired_lock_is_refused_and_says_the_work_was_unprotected(
        self, ann: Agent, clock: Clock
    ) -> None:
        lock = acquire(ann, ttl_seconds=10).lock
        clock.advance(10)
        with pytest.raises(Conflict) as excinfo:
            services.release_lock(actor=me(ann), lock_id=lock.pk)
        assert excinfo.value.code == "lock_expired"
        assert "not protected" in excinfo.value.message

    def test_releasing_someone_elses_lock_is_refused(self, ann: Agent, bob: Agent) -> None:
        lock = acquire(ann).lock
        for call in (services.release_lock, services.renew_lock):
            with pytest.raises(PermissionDenied) as excinfo:
                call(actor=me(bob), lock_id=lock.pk)
            assert excinfo.value.code == "not_lock_holder"
            assert "ann" in excinfo.value.message
        assert status_of(lock) == LockStatus.HELD

    def test_a_staff_human_may_renew_and_release_any_lock(self, ann: Agent) -> None:
        lock = acquire(ann).lock
        staff = Actor.for_user(make_user(staff=True))
        services.renew_lock(actor=staff, lock_id=lock.pk)
        assert services.release_lock(actor=staff, lock_id=lock.pk).status == LockStatus.RELEASED

    def test_a_human_who_is_not_staff_may_not(self, ann: Agent) -> None:
        lock = acquire(ann).lock
        with pytest.raises(PermissionDenied):
            services.release_lock(actor=Actor.for_user(make_user(staff=False)), lock_id=lock.pk)

    def test_an_expired_lock_is_ignored_at_once_and_written_down_by_the_next_grant(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        old = acquire(ann, ttl_seconds=10).lock
        clock.advance(10)
        assert list(selectors.live_locks(project)) == []
        assert selectors.as_dict(old)["status"] == LockStatus.EXPIRED
        assert status_of(old) == LockStatus.HELD
        [answer] = services.check_conflicts(agent=bob, specs=[{"path": PATH}])
        assert answer["free"]
        new = acquire(bob).lock
        assert new.fencing_token == 2
        assert status_of(old) == LockStatus.EXPIRED
        [expired] = events(project, "lock.expired")
        assert expired.payload["lock"] == old.pk
        assert expired.actor == "lock-queue"


class TestForceRelease:
    def test_a_staff_human_force_releases_and_the_log_names_them_and_why(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        lock = acquire(ann).lock
        waiting = acquire(bob, wait=True).lock
        user = make_user(username="root-dana", staff=True)
        ended = services.force_release(
            actor=Actor.for_user(user), lock_id=lock.pk, reason="ann crashed"
        )
        assert ended.status == LockStatus.RELEASED
        assert ended.released_by == "user:root-dana"
        [event] = events(project, "lock.force_released")
        assert event.actor == "user:root-dana"
        assert event.payload["by"] == "user:root-dana"
        assert event.payload["why"] == "ann crashed"
        assert event.payload["was"] == LockStatus.HELD
        assert status_of(waiting) == LockStatus.HELD

    def test_agents_and_non_staff_cannot_force_release(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        lock = acquire(ann).lock
        viewer = make_user(staff=False)
        Membership.objects.create(project=project, user=viewer, role=Role.VIEWER)
        refusals = [
            (me(bob), "humans_only"),
            (me(ann), "humans_only"),
            # Humans need the lead role (STEER_LOCKS), member or not.
            (Actor.for_user(make_user(staff=False)), "role_required"),
            (Actor.for_user(viewer), "role_required"),
        ]
        for actor, code in refusals:
            with pytest.raises(PermissionDenied) as excinfo:
                services.force_release(actor=actor, lock_id=lock.pk)
            assert excinfo.value.code == code
        assert status_of(lock) == LockStatus.HELD


# ---------------------------------------------------------------------------------------------
# Events


class TestEvents:
    def test_every_lock_event_carries_what_a_replay_needs(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        held = acquire(ann, scope="section", section="Auth", start_line=3, end_line=9).lock
        waiting = acquire(bob, scope="lines", start_line=4, end_line=4, wait=True).lock
        services.renew_lock(actor=me(ann), lock_id=held.pk)
        services.release_lock(actor=me(ann), lock_id=held.pk)
        clock.advance(2000)
        services.sweep_expired()
        kinds = [e.type for e in Event.objects.filter(project=project, type__startswith="lock.")]
        assert kinds == [
            "lock.granted",
            "lock.queued",
            "lock.renewed",
            "lock.released",
            "lock.granted",
            "lock.expired",
        ]
        needed = {
            "lock",
            "path",
            "scope",
            "section",
            "start_line",
            "end_line",
            "mode",
            "holder",
            "holder_id",
            "fencing_token",
            "expires_at",
            "at",
        }
        for event in Event.objects.filter(project=project, type__startswith="lock."):
            assert needed <= set(event.payload), event.type
            assert event.subject == f"lock:{event.payload['lock']}"
        first = events(project, "lock.granted")[0].payload
        assert (first["section"], first["start_line"], first["end_line"]) == ("Auth", 3, 9)
        assert events(project, "lock.granted")[1].payload["lock"] == waiting.pk
