"""The lock services against a simple in-memory model, driven by hypothesis.

Random sequences of acquire (with and without waiting), renew, release, sweeps and the passing
of time, by three agents on two files. After every step, every lock's status, fencing token and
expiry, and every waiting request's place in line, must be what the model says, and so must the
outcome of each call.

The clock: the test replaces ``django.utils.timezone.now`` (which the services, the selectors
and the event log read) with a clock that only moves when the machine's ``advance`` rule says,
so the model and the services see the very same instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from locks import selectors, services
from locks.models import Lock, LockStatus
from locks.rules import LockSpec, conflicts
from peercode.actors import Actor
from peercode.errors import Conflict, PermissionDenied
from tests.factories import make_agent, make_project

HELD, WAITING = LockStatus.HELD, LockStatus.WAITING

SHAPES = [
    {"path": "a.py", "scope": "file"},
    {"path": "a.py", "scope": "lines", "start_line": 1, "end_line": 10},
    {"path": "a.py", "scope": "lines", "start_line": 8, "end_line": 20},
    {"path": "a.py", "scope": "lines", "start_line": 21, "end_line": 30},
    {"path": "a.py", "scope": "section", "section": "A"},
    {"path": "a.py", "scope": "section", "section": "A.f", "start_line": 5, "end_line": 9},
    {"path": "b.py", "scope": "file"},
    {"path": "b.py", "scope": "lines", "start_line": 1, "end_line": 3},
]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=timezone.get_fixed_timezone(0))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Modelled:
    """What the model knows of one lock."""

    spec: LockSpec
    ttl: int
    status: str
    expires_at: datetime
    token: int | None = None


class LockModel:
    """The whole lock protocol of one project, in memory: a dict and a counter."""

    def __init__(self) -> None:
        self.locks: dict[int, Modelled] = {}
        self.last_token = 0

    def live(self, lock: Modelled, now: datetime, status: str = HELD) -> bool:
        return lock.status == status and lock.expires_at > now

    def blockers(self, spec: LockSpec, now: datetime, before: int | None = None) -> list[int]:
        return [
            pk
            for pk, lock in sorted(self.locks.items())
            if (
                self.live(lock, now)
                or (self.live(lock, now, WAITING) and (before is None or pk < before))
            )
            and conflicts(spec, lock.spec)
        ]

    def position(self, pk: int, now: datetime) -> int | None:
        lock = self.locks[pk]
        if not self.live(lock, now, WAITING):
            return None
        ahead = self.blockers(lock.spec, now, before=pk)
        return 1 + sum(1 for other in ahead if self.locks[other].status == WAITING)

    def grant(self, lock: Modelled, now: datetime) -> None:
        self.last_token += 1
        lock.token = self.last_token
        lock.status = HELD
        lock.expires_at = now + timedelta(seconds=lock.ttl)

    def settle(self, now: datetime, *, ended: bool = False) -> None:
        for lock in self.locks.values():
            if lock.expires_at <= now and lock.status == HELD:
                lock.status, ended = LockStatus.EXPIRED, True
            elif lock.expires_at <= now and lock.status == WAITING:
                lock.status, ended = LockStatus.CANCELLED, True
        if not ended:
            return
        for pk in sorted(self.locks):
            lock = self.locks[pk]
            if self.live(lock, now, WAITING) and not self.blockers(lock.spec, now, before=pk):
                self.grant(lock, now)

    def acquire(self, spec: LockSpec, ttl: int, wait: bool, now: datetime) -> str:
        self.settle(now)
        return "granted" if not self.blockers(spec, now) else "queued" if wait else "refused"

    def end(self, pk: int, holder: int, now: datetime) -> str:
        lock = self.locks[pk]
        if lock.spec.holder_id != holder:
            return "not_lock_holder"
        if self.live(lock, now, WAITING):
            lock.status = LockStatus.CANCELLED
        elif self.live(lock, now):
            lock.status = LockStatus.RELEASED
        else:
            return "lock_expired" if lock.status in (HELD, LockStatus.EXPIRED) else "lock_not_held"
        self.settle(now, ended=True)
        return "ended"

    def renew(self, pk: int, holder: int, ttl: int, now: datetime) -> str:
        lock = self.locks[pk]
        if lock.spec.holder_id != holder:
            return "not_lock_holder"
        if self.live(lock, now):
            lock.ttl = ttl
            lock.expires_at = now + timedelta(seconds=ttl)
            return "renewed"
        if self.live(lock, now, WAITING):
            return "lock_waiting"
        return "lock_expired" if lock.status in (HELD, LockStatus.EXPIRED) else "lock_not_held"


def machine_for(clock: Clock) -> type[RuleBasedStateMachine]:
    class LockMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Each example starts from the same instant, in a savepoint rolled back after it,
            # so that a replayed example meets exactly the state it met the first time.
            clock.now = Clock().now
            self.savepoint = transaction.savepoint()
            self.project = make_project()
            self.agents = [make_agent(self.project)[0] for _ in range(3)]
            self.model = LockModel()

        def teardown(self) -> None:
            transaction.savepoint_rollback(self.savepoint)

        def outcome_of_end(self, agent: int, pk: int) -> str:
            try:
                services.release_lock(actor=Actor.for_agent(self.agents[agent]), lock_id=pk)
            except (Conflict, PermissionDenied) as exc:
                return exc.code
            return "ended"

        @rule(
            agent=st.integers(0, 2),
            shape=st.sampled_from(SHAPES),
            mode=st.sampled_from(["exclusive", "shared"]),
            ttl=st.sampled_from([10, 20, 60]),
            wait=st.booleans(),
        )
        def acquire(self, agent: int, shape: dict[str, object], mode: str, ttl: int, wait: bool):
            who = self.agents[agent]
            spec = LockSpec(
                path=str(shape["path"]),
                scope=str(shape["scope"]),
                section=str(shape.get("section", "")),
                start_line=shape.get("start_line"),  # type: ignore[arg-type]
                end_line=shape.get("end_line"),  # type: ignore[arg-type]
                mode=mode,
                holder_id=who.pk,
            )
            expected = self.model.acquire(spec, ttl, wait, clock.now)
            try:
                result = services.acquire_lock(
                    agent=who, mode=mode, ttl_seconds=ttl, wait=wait, **shape
                )
            except services.LockConflict:
                assert expected == "refused"
                return
            assert expected == ("granted" if result.granted else "queued")
            lock = Modelled(spec=spec, ttl=ttl, status=WAITING, expires_at=clock.now)
            if result.granted:
                self.model.grant(lock, clock.now)
            else:
                lock.expires_at = clock.now + timedelta(seconds=ttl)
            self.model.locks[result.lock.pk] = lock
            assert result.position == self.model.position(result.lock.pk, clock.now)

        @rule(agent=st.integers(0, 2), pick=st.integers(0, 10_000))
        def release(self, agent: int, pick: int) -> None:
            if not self.model.locks:
                return
            pk = sorted(self.model.locks)[pick % len(self.model.locks)]
            expected = self.model.end(pk, self.agents[agent].pk, clock.now)
            assert self.outcome_of_end(agent, pk) == expected

        @rule(agent=st.integers(0, 2), pick=st.integers(0, 10_000), ttl=st.sampled_from([10, 45]))
        def renew(self, agent: int, pick: int, ttl: int) -> None:
            if not self.model.locks:
                return
            pk = sorted(self.model.locks)[pick % len(self.model.locks)]
            expected = self.model.renew(pk, self.agents[agent].pk, ttl, clock.now)
            try:
                services.renew_lock(
                    actor=Actor.for_agent(self.agents[agent]), lock_id=pk, ttl_seconds=ttl
                )
                outcome = "renewed"
            except (Conflict, PermissionDenied) as exc:
                outcome = exc.code
            assert outcome == expected

        @rule(seconds=st.sampled_from([1, 4, 9, 19, 30]))
        def advance(self, seconds: int) -> None:
            clock.now += timedelta(seconds=seconds)

        @rule()
        def sweep(self) -> None:
            services.sweep_expired()
            self.model.settle(clock.now)

        @invariant()
        def every_lock_is_as_the_model_says(self) -> None:
            rows = Lock.objects.filter(project=self.project).select_related("holder")
            stored = {lock.pk: lock for lock in rows}
            assert set(stored) == set(self.model.locks)
            for pk, modelled in self.model.locks.items():
                row = stored[pk]
                # The clock may have ended a lease the rows do not show yet; compare what the
                # selectors make of them.
                status = selectors.effective_status(row, now=clock.now)
                expected = modelled.status
                if modelled.expires_at <= clock.now and expected == HELD:
                    expected = LockStatus.EXPIRED
                if modelled.expires_at <= clock.now and expected == WAITING:
                    expected = LockStatus.CANCELLED
                assert (pk, status) == (pk, expected)
                assert row.fencing_token == modelled.token
                assert row.expires_at == modelled.expires_at
                assert selectors.queue_position(row, now=clock.now) == self.model.position(
                    pk, clock.now
                )
            live = {lock.pk for lock in selectors.live_locks(self.project, now=clock.now)}
            assert live == {
                pk for pk, m in self.model.locks.items() if self.model.live(m, clock.now)
            }

    return LockMachine


@pytest.mark.django_db
def test_the_lock_services_behave_like_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(timezone, "now", clock)
    run_state_machine_as_test(
        machine_for(clock),
        settings=settings(
            max_examples=50,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
