"""Many agents at once, then an independent audit of the server's own event log.

16 workers (threads, and on PostgreSQL also forked processes) do at least 2,000 random
acquire/renew/release operations in total on three files, with overlapping ranges, waiting
requests and leases of 1-3 seconds that run out during the run, while a sweeper runs beside
them. Then :func:`audit` replays only the project's ``lock.*`` events (in log order) and finds
no moment at which two conflicting locks were both live, and fencing tokens that strictly
increase.

The audit carries its own statement of the conflict rule (:func:`clash`) and reads only times
and fields from the payloads, so it shares nothing with the services but the event format.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.utils import timezone

from locks.services import LockConflict, acquire_lock, release_lock, renew_lock, sweep_expired
from peercode.actors import Actor
from peercode.errors import Conflict
from peercode.events.models import Event
from peercode.events.services import flush_refusals
from projects.models import Agent, Project
from tests.conftest import requires_postgresql
from tests.factories import make_agent, make_project

WORKERS = 16
OPS_PER_WORKER = 125  # 16 x 125 = 2,000 operations


# ---------------------------------------------------------------------------------------------
# The traffic

FILES = ["src/app.py", "src/models.py", "README.md"]
SECTIONS = ["App", "App.run", "App.stop", "Model"]
MIN_TTL_SECONDS = 1  # lowered from 10 so that leases run out during the run


def random_request(rng: random.Random) -> dict[str, Any]:
    request: dict[str, Any] = {
        "path": rng.choice(FILES),
        "mode": "shared" if rng.random() < 0.3 else "exclusive",
        "ttl_seconds": rng.randint(1, 3),
        "wait": rng.random() < 0.2,
    }
    kind = rng.random()
    if kind < 0.15:
        request["scope"] = "file"
    elif kind < 0.35:
        request["scope"] = "section"
        request["section"] = rng.choice(SECTIONS)
        if rng.random() < 0.5:
            start = rng.randint(1, 40)
            request["start_line"], request["end_line"] = start, start + rng.randint(0, 15)
    else:
        start = rng.randint(1, 50)
        request["scope"] = "lines"
        request["start_line"], request["end_line"] = start, start + rng.randint(0, 10)
    return request


def work(agent: Agent, ops: int, seed: int) -> Counter[str]:
    """``ops`` random acquire/renew/release operations as ``agent``; the outcomes counted."""
    rng = random.Random(seed)
    actor = Actor.for_agent(agent)
    mine: list[int] = []
    outcomes: Counter[str] = Counter()
    for _ in range(ops):
        roll = rng.random()
        lock_id: int | None = None
        try:
            if mine and roll < 0.25:
                lock_id = rng.choice(mine)
                renew_lock(actor=actor, lock_id=lock_id, ttl_seconds=rng.randint(1, 3))
                outcomes["renewed"] += 1
            elif mine and roll < 0.55:
                lock_id = rng.choice(mine)
                mine.remove(lock_id)
                release_lock(actor=actor, lock_id=lock_id)
                outcomes["released"] += 1
            else:
                result = acquire_lock(agent=agent, **random_request(rng))
                mine.append(result.lock.pk)
                outcomes["granted" if result.granted else "queued"] += 1
        except LockConflict:
            outcomes["refused"] += 1
        except Conflict as exc:
            # Renewing or releasing what ran out (or still waits) meanwhile: an expected answer.
            outcomes[exc.code] += 1
            if exc.code in ("lock_expired", "lock_not_held") and lock_id in mine:
                mine.remove(lock_id)
    return outcomes


# ---------------------------------------------------------------------------------------------
# The audit


@dataclass
class Lease:
    lock: int
    path: str
    scope: str
    section: str
    start: int | None
    end: int | None
    mode: str
    holder: int
    token: int
    granted_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    @property
    def until(self) -> datetime:
        return self.ended_at if self.ended_at is not None else self.expires_at


def clash(a: Lease, b: Lease) -> bool:
    """The conflict rule as the issue states it, written again for the audit."""
    if a.path != b.path or a.holder == b.holder or a.mode == b.mode == "shared":
        return False
    if "file" in (a.scope, b.scope):
        return True
    if a.scope == b.scope == "section":
        names = sorted((a.section, b.section), key=len)
        if names[0] == names[1] or names[1].startswith((names[0] + ".", names[0] + "::")):
            return True
    if None in (a.start, b.start, a.end, b.end):
        return False
    return a.start <= b.end and b.start <= a.end  # type: ignore[operator]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def audit(log: Iterable[tuple[str, dict[str, Any]]]) -> tuple[list[str], Counter[str]]:
    """Replay ``(type, payload)`` pairs in log order; answer the problems found and counts."""
    problems: list[str] = []
    seen: Counter[str] = Counter()
    leases: dict[int, Lease] = {}
    last_token = 0
    for kind, payload in log:
        seen[kind] += 1
        lock = payload.get("lock")
        at = when(payload["at"])
        lease = leases.get(lock) if lock is not None else None
        if kind == "lock.granted":
            token = payload["fencing_token"]
            if token <= last_token:
                problems.append(f"lock {lock} got token {token} after token {last_token}")
            last_token = max(last_token, token)
            if lease is not None:
                problems.append(f"lock {lock} was granted twice")
            expires = when(payload["expires_at"])
            if expires != at + timedelta(seconds=payload["ttl_seconds"]):
                problems.append(f"lock {lock} was granted a lease other than its ttl")
            leases[lock] = Lease(
                lock=lock,
                path=payload["path"],
                scope=payload["scope"],
                section=payload["section"],
                start=payload["start_line"],
                end=payload["end_line"],
                mode=payload["mode"],
                holder=payload["holder_id"],
                token=token,
                granted_at=at,
                expires_at=expires,
            )
        elif kind == "lock.renewed":
            if lease is None or lease.ended_at is not None or at >= lease.expires_at:
                problems.append(f"lock {lock} was renewed at {at} when it was not live")
            elif lease is not None:
                lease.expires_at = when(payload["expires_at"])
        elif kind in ("lock.released", "lock.force_released") and payload.get("was") != "waiting":
            if lease is None or lease.ended_at is not None or at >= lease.expires_at:
                problems.append(f"lock {lock} was released at {at} when it was not live")
            else:
                lease.ended_at = at
        elif kind == "lock.expired":
            if lease is None or lease.ended_at is not None:
                problems.append(f"lock {lock} expired but was not live")
            elif when(payload["ended_at"]) != lease.expires_at or at < lease.expires_at:
                problems.append(f"lock {lock} was marked expired before its lease ran out")
            else:
                lease.ended_at = lease.expires_at
        elif kind == "lock.cancelled" and lease is not None:
            problems.append(f"lock {lock} was cancelled after it had been granted")
    problems += overlapping(list(leases.values()))
    return problems, seen


def overlapping(leases: list[Lease]) -> list[str]:
    """Every pair of conflicting leases whose live intervals [granted_at, until) intersect."""
    problems = []
    by_path: dict[str, list[Lease]] = defaultdict(list)
    for lease in leases:
        by_path[lease.path].append(lease)
    for path_leases in by_path.values():
        path_leases.sort(key=lambda lease: lease.granted_at)
        live: list[Lease] = []
        for lease in path_leases:
            live = [other for other in live if other.until > lease.granted_at]
            for other in live:
                if lease.granted_at < lease.until and clash(lease, other):
                    problems.append(
                        f"locks {other.lock} (token {other.token}) and {lease.lock} (token "
                        f"{lease.token}) on {lease.path} were both live at {lease.granted_at}"
                    )
            live.append(lease)
    return problems


def project_log(project: Project) -> list[tuple[str, dict[str, Any]]]:
    # The log's own order: events are written under the project's lock row, after the clock is
    # read, so their creation times follow the order of the changes.
    events = Event.objects.filter(project=project, type__startswith="lock.").order_by(
        "created_at", "id"
    )
    return [(event.type, event.payload) for event in events]


def assert_log_is_sound(project: Project, outcomes: Counter[str]) -> None:
    problems, seen = audit(project_log(project))
    assert problems == []
    assert sum(outcomes.values()) >= WORKERS * OPS_PER_WORKER
    # The run exercised what it is meant to: grants, refusals, the line, renewals, expiry.
    assert seen["lock.granted"] >= 100
    # Repeated identical refusals are folded into one event with a count (record_refusal).
    flush_refusals(now=timezone.now() + timedelta(days=1))
    refusals = Event.objects.filter(project=project, type="lock.refused")
    assert sum(event.payload["count"] for event in refusals) == outcomes["refused"] > 0
    assert seen["lock.queued"] == outcomes["queued"] > 0
    assert seen["lock.renewed"] == outcomes["renewed"] > 0
    assert seen["lock.expired"] > 0


# ---------------------------------------------------------------------------------------------
# The audit itself catches what it must


def payload(lock: int, at: datetime, **fields: Any) -> dict[str, Any]:
    base = {
        "lock": lock,
        "path": "a.py",
        "scope": "lines",
        "section": "",
        "start_line": 1,
        "end_line": 5,
        "mode": "exclusive",
        "holder_id": lock,
        "fencing_token": lock,
        "ttl_seconds": 10,
        "at": at.isoformat(),
        "expires_at": (at + timedelta(seconds=10)).isoformat(),
    }
    return {**base, **fields}


T0 = datetime(2026, 1, 1, 12, 0, 0)


def test_the_audit_finds_two_conflicting_locks_live_at_once() -> None:
    log = [
        ("lock.granted", payload(1, T0)),
        ("lock.granted", payload(2, T0 + timedelta(seconds=9), start_line=5, end_line=8)),
    ]
    problems, _ = audit(log)
    assert len(problems) == 1
    assert "locks 1 (token 1) and 2 (token 2)" in problems[0]


def test_the_audit_accepts_a_grant_after_the_previous_lease_ran_out_or_was_released() -> None:
    released_at = T0 + timedelta(seconds=3)
    log = [
        ("lock.granted", payload(1, T0)),
        ("lock.released", payload(1, released_at)),
        ("lock.granted", payload(2, released_at)),
        ("lock.granted", payload(3, T0 + timedelta(seconds=14), scope="file", start_line=None)),
    ]
    assert audit(log)[0] == []


def test_the_audit_follows_renewals() -> None:
    renewed = payload(1, T0 + timedelta(seconds=5))
    renewed["expires_at"] = (T0 + timedelta(seconds=30)).isoformat()
    log = [
        ("lock.granted", payload(1, T0)),
        ("lock.renewed", renewed),
        ("lock.granted", payload(2, T0 + timedelta(seconds=20))),
    ]
    assert len(audit(log)[0]) == 1


def test_the_audit_finds_tokens_that_do_not_increase() -> None:
    log = [
        ("lock.granted", payload(2, T0, path="a.py")),
        ("lock.granted", payload(1, T0 + timedelta(seconds=1), path="b.py")),
    ]
    assert audit(log)[0] == ["lock 1 got token 1 after token 2"]


def test_the_audit_finds_a_renewal_of_a_lease_that_had_run_out() -> None:
    log = [
        ("lock.granted", payload(1, T0)),
        ("lock.renewed", payload(1, T0 + timedelta(seconds=11))),
    ]
    assert len(audit(log)[0]) == 1


def test_the_audit_knows_shared_locks_and_one_holder_do_not_clash() -> None:
    log = [
        ("lock.granted", payload(1, T0, mode="shared")),
        ("lock.granted", payload(2, T0, mode="shared")),
        ("lock.granted", payload(3, T0, path="b.py", holder_id=7)),
        ("lock.granted", payload(4, T0, path="b.py", holder_id=7)),
    ]
    assert audit(log)[0] == []


# ---------------------------------------------------------------------------------------------
# The stress runs


@pytest.fixture
def short_leases(settings: Any) -> None:
    settings.PEERCODE_MIN_LOCK_TTL_SECONDS = MIN_TTL_SECONDS


def team(project: Project) -> list[Agent]:
    return [make_agent(project, f"worker-{number}")[0] for number in range(WORKERS)]


class Sweeper:
    """A thread sweeping expired leases while the workers run, as the server's task does."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        try:
            while not self.stop.wait(0.1):
                sweep_expired()
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.errors.append(exc)
        finally:
            connection.close()

    def __enter__(self) -> Sweeper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("short_leases")
def test_threads_never_hold_conflicting_locks_at_once() -> None:
    project = make_project()
    agents = team(project)
    barrier = threading.Barrier(WORKERS)
    outcomes: Counter[str] = Counter()
    errors: list[BaseException] = []
    guard = threading.Lock()

    def run(agent: Agent, seed: int) -> None:
        try:
            barrier.wait()
            counted = work(agent, OPS_PER_WORKER, seed)
            with guard:
                outcomes.update(counted)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(agent, seed)) for seed, agent in enumerate(agents)
    ]
    with Sweeper() as sweeper:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert sweeper.errors == []
    assert_log_is_sound(project, outcomes)


def work_in_a_process(
    agent_id: int, seed: int, start: Any, results: multiprocessing.Queue[tuple[str, Any]]
) -> None:
    """A forked worker: its own process and its own database connection (the parent closed
    its connections before forking, as Django's parallel test runner does)."""
    try:
        agent = Agent.objects.select_related("project").get(pk=agent_id)
        start.wait()
        results.put(("done", dict(work(agent, OPS_PER_WORKER, seed))))
    except BaseException:  # pragma: no cover - reported by the parent
        results.put(("failed", traceback.format_exc()))
    finally:
        connections.close_all()


@requires_postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("short_leases")
def test_processes_never_hold_conflicting_locks_at_once() -> None:
    project = make_project()
    agents = team(project)
    # Forked rather than spawned: 16 fresh Django start-ups would cost more than the run.
    context = multiprocessing.get_context("fork")
    start = context.Event()
    results: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    connections.close_all()
    workers = [
        context.Process(target=work_in_a_process, args=(agent.pk, 1000 + seed, start, results))
        for seed, agent in enumerate(agents)
    ]
    for worker in workers:
        worker.start()
    try:
        with Sweeper() as sweeper:
            start.set()
            answers = [results.get(timeout=240) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    assert [worker.exitcode for worker in workers] == [0] * WORKERS
    assert [text for status, text in answers if status != "done"] == []
    assert sweeper.errors == []
    outcomes: Counter[str] = Counter()
    for _, counted in answers:
        outcomes.update(counted)
    assert_log_is_sound(project, outcomes)
