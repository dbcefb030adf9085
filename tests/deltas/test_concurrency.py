"""Sequence numbers under concurrent pushes: real threads and real processes, one database.

Every test asserts the same outcome: the project's deltas are numbered exactly 1..N, each
number once, with one ``delta.pushed`` event per delta, and each writer got its own numbers in
the order it pushed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from deltas import selectors
from deltas.models import Delta
from deltas.services import ack_updates, push_delta
from peercode.actors import Actor
from peercode.errors import ValidationFailed
from peercode.events.models import Event
from projects.models import Agent, Project
from tests.conftest import uses_postgresql
from tests.factories import make_agent, make_project

REPO_ROOT = Path(__file__).resolve().parents[2]
WRITERS = 8


def deltas_per_writer(*, processes: bool = False) -> int:
    # PostgreSQL takes the full 8 x 200 in seconds. SQLite serialises every write transaction
    # on one file lock, and a process waiting for it backs off by sleeping (up to 100 ms a
    # time), so the same assertion is made on 8 x 50 threads and 8 x 25 processes there.
    if uses_postgresql():
        return 200
    return 25 if processes else 50


def writers(project: Project) -> list[Agent]:
    return [make_agent(project, f"writer-{number}")[0] for number in range(WRITERS)]


def assert_numbered_exactly_once(
    project: Project, given: dict[str, list[int]], *, count: int
) -> None:
    """The stream is 1..N with no gap or duplicate, and agrees with what each writer got."""
    total = WRITERS * count
    stored = list(
        Delta.objects.filter(project=project).order_by("seq").values_list("seq", flat=True)
    )
    assert stored == list(range(1, total + 1))
    assert selectors.head_of(project) == total
    assert sorted(seq for seqs in given.values() for seq in seqs) == stored
    pushed = Event.objects.filter(project=project, type="delta.pushed")
    assert sorted(event.payload["seq"] for event in pushed) == stored
    assert sorted(pushed.values_list("subject", flat=True)) == sorted(f"delta:{s}" for s in stored)
    assert not Event.objects.filter(project=project, type="delta.folded").exists()
    for name, seqs in given.items():
        assert seqs == sorted(seqs), f"{name} got its numbers out of order"
        summaries = Delta.objects.filter(project=project, author__name=name).order_by("seq")
        assert list(summaries.values_list("summary", flat=True)) == [
            f"{name} step {number}" for number in range(count)
        ]


@pytest.mark.django_db(transaction=True)
def test_pushes_from_concurrent_threads_are_numbered_1_to_n_exactly_once() -> None:
    project = make_project()
    agents = writers(project)
    count = deltas_per_writer()
    barrier = threading.Barrier(WRITERS)
    given: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def write(agent: Agent) -> None:
        actor = Actor.for_agent(agent)
        try:
            barrier.wait()
            given[agent.name] = [
                push_delta(
                    project=project, actor=actor, kind="status", summary=f"{agent.name} step {n}"
                ).delta.seq
                for n in range(count)
            ]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_numbered_exactly_once(project, given, count=count)


@pytest.mark.django_db(transaction=True)
def test_pushes_from_separate_processes_are_numbered_1_to_n_exactly_once() -> None:
    project = make_project()
    agents = writers(project)
    count = deltas_per_writer(processes=True)
    # The children open their own connections to the database this test runs on.
    database = str(connection.settings_dict["NAME"])
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "peercode.settings"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.deltas.push_worker", database, str(agent.pk), str(count)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for agent in agents
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            if line.strip() != "ready":
                _, stderr = worker.communicate(timeout=60)
                pytest.fail(f"a push worker did not start: {line!r}\n{stderr}")
        # Start them together, so that their pushes contend for the stream row.
        outcomes = [worker.communicate(input="go\n", timeout=240) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, (_, stderr) in zip(workers, outcomes, strict=True):
        assert worker.returncode == 0, stderr
    given = {
        agent.name: [int(line) for line in stdout.split()]
        for agent, (stdout, _) in zip(agents, outcomes, strict=True)
    }
    assert_numbered_exactly_once(project, given, count=count)


@pytest.mark.django_db(transaction=True)
def test_acknowledgements_racing_pushes_never_pass_the_head_or_move_back() -> None:
    project = make_project()
    pusher, _ = make_agent(project, "pusher")
    readers = [make_agent(project, f"reader-{number}")[0] for number in range(3)]
    pushes = 60
    done = threading.Event()
    errors: list[BaseException] = []
    observed: dict[str, list[int]] = {reader.name: [] for reader in readers}

    def push_all() -> None:
        try:
            actor = Actor.for_agent(pusher)
            for n in range(pushes):
                push_delta(project=project, actor=actor, kind="status", summary=f"step {n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()
            connection.close()

    def follow(reader: Agent) -> None:
        # Acknowledge the head as it is seen, and one past it (always refused), until the
        # pusher is done; record the cursor after every step.
        try:
            while True:
                finished = done.is_set()
                head = selectors.head_of(project)
                ack_updates(agent=reader, seq=head)
                try:
                    ack_updates(agent=reader, seq=head + pushes + 1)
                    errors.append(AssertionError(f"ack beyond head {head} was accepted"))
                except ValidationFailed as exc:
                    if exc.code != "ack_beyond_head":
                        raise
                observed[reader.name].append(selectors.cursor_of(reader))
                if finished:
                    break
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=push_all)] + [
        threading.Thread(target=follow, args=(reader,)) for reader in readers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for name, cursors in observed.items():
        assert cursors == sorted(cursors), f"{name}'s cursor moved back"
        assert cursors[-1] == pushes
        assert all(cursor <= pushes for cursor in cursors)
