"""Rounds close exactly once when every participant speaks at the same moment: real threads,
and (on PostgreSQL) real processes, against one database.

Each round is checked the same way: exactly one closed row for it, exactly one
``debate.round_closed`` event, exactly one turn that reports closing it, every turn stored once,
and the next round opened once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.db import connection

from debates.models import Debate, DebateRound, Proposal, Turn
from debates.services import (
    TurnResult,
    close_overdue_rounds,
    open_debate,
    open_debate_from_proposal,
)
from deltas.models import Delta
from deltas.services import push_delta
from peercode.actors import Actor
from peercode.events.models import Event
from projects.models import Agent
from projects.services import claim_task
from tests.conftest import requires_postgresql
from tests.debates.support import debating_project, fresh, lead, take
from tests.factories import make_agent, make_contract, make_task

pytestmark = pytest.mark.django_db(transaction=True)

REPO_ROOT = Path(__file__).resolve().parents[2]
PARTICIPANTS = 6
T = TypeVar("T")


@pytest.fixture(autouse=True)
def no_ai_mediator(settings: Any) -> None:
    settings.ANTHROPIC_API_KEY = ""


def all_at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run each call on its own thread, released together by a barrier; their results."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], T]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


def six_debaters() -> tuple[list[Agent], Debate]:
    # Stances that do not move must not escalate: these rounds are about closing, not tallying.
    project = debating_project(rounds=10, stalemate_escalates=False)
    agents = [make_agent(project, f"agent-{n}")[0] for n in range(PARTICIPANTS)]
    debate = open_debate(
        project=project,
        actor=lead(),
        topic="Where the cache lives",
        participants=[agent.name for agent in agents],
    )
    return agents, debate


def approach(agent: Agent) -> str:
    """A proposal of the agent's own, far from restating anyone else's."""
    return f"{agent.name} would {agent.name} keep {agent.name} the cache in {agent.name} memory"


def assert_closed_exactly_once(
    debate: Debate, number: int, results: list[TurnResult], *, outcome: str
) -> None:
    closers = [r for r in results if r.closed is not None]
    assert len(closers) == 1
    assert closers[0].closed is not None
    assert (closers[0].closed.number, closers[0].closed.tally.outcome) == (number, outcome)
    row = DebateRound.objects.get(debate=debate, number=number)
    assert row.closed_at is not None
    assert (row.closed_by, row.outcome) == ("turns", outcome)
    subject = f"debate:{debate.pk}"
    closed_events = Event.objects.filter(type="debate.round_closed", subject=subject)
    assert [e.payload["round"] for e in closed_events].count(number) == 1
    taken = Event.objects.filter(type="debate.turn_taken", subject=subject)
    assert [e.payload["round"] for e in taken].count(number) == PARTICIPANTS
    turns = Turn.objects.filter(debate=debate, round_number=number)
    assert sorted(turns.values_list("agent__name", flat=True)) == [
        f"agent-{n}" for n in range(PARTICIPANTS)
    ]
    assert not turns.filter(kind="silent").exists()
    assert sorted(r.turn.pk for r in results) == sorted(turns.values_list("pk", flat=True))


def assert_next_round_opened_once(debate: Debate, number: int) -> None:
    debate = fresh(debate)
    assert (debate.status, debate.current_round) == ("open", number + 1)
    assert list(DebateRound.objects.filter(debate=debate).values_list("number", "outcome")) == [
        *[(n, "next_round") for n in range(1, number + 1)],
        (number + 1, ""),
    ]
    told = Delta.objects.filter(
        kind="debate", summary__contains=f"round {number} closed without consensus"
    )
    assert told.count() == 1


def test_six_simultaneous_turns_close_each_round_exactly_once() -> None:
    agents, debate = six_debaters()

    results = all_at_once(
        [partial(take, agent, debate, proposal=approach(agent)) for agent in agents]
    )
    assert_closed_exactly_once(debate, 1, results, outcome="next_round")
    assert_next_round_opened_once(debate, 1)
    proposals = Proposal.objects.filter(debate=debate).select_related("author")
    assert sorted(p.number for p in proposals) == list(range(1, PARTICIPANTS + 1))
    own = {p.author.name: p.label for p in proposals if p.author is not None}

    for number in (2, 3):
        results = all_at_once(
            [partial(take, agent, debate, supports=own[agent.name]) for agent in agents]
        )
        assert_closed_exactly_once(debate, number, results, outcome="next_round")
        assert_next_round_opened_once(debate, number)

    chosen = own[agents[0].name]
    results = all_at_once([partial(take, agent, debate, supports=chosen) for agent in agents])
    assert_closed_exactly_once(debate, 4, results, outcome="consensus")
    debate = fresh(debate)
    assert (debate.status, debate.current_round) == ("consensus", 4)
    assert DebateRound.objects.filter(debate=debate).count() == 4
    assert Event.objects.filter(type="debate.decided", subject=f"debate:{debate.pk}").count() == 1


def test_concurrent_retries_of_one_turn_store_it_once_and_close_the_round_once() -> None:
    agents, debate = six_debaters()
    for agent in agents[1:]:
        take(agent, debate, proposal=approach(agent))
    last = agents[0]

    def retry() -> TurnResult:
        return take(last, debate, proposal=approach(last), key="last-turn", rationale="Same.")

    results = all_at_once([retry for _ in range(PARTICIPANTS)])
    assert sorted(r.replayed for r in results) == [False] + [True] * (PARTICIPANTS - 1)
    assert len({r.turn.pk for r in results}) == 1
    assert Turn.objects.filter(debate=debate, agent=last).count() == 1
    assert Proposal.objects.filter(debate=debate, author=last).count() == 1
    taken = Event.objects.filter(type="debate.turn_taken", actor=f"agent:{last.name}")
    assert taken.count() == 1
    # The one real turn closed the round; every retry reports that same close, not its own.
    assert [r.closed.number for r in results if r.closed and not r.replayed] == [1]
    tallies = [r.closed.tally.as_json() for r in results if r.closed]
    assert len(tallies) == PARTICIPANTS
    assert all(tally == tallies[0] for tally in tallies)
    assert Event.objects.filter(type="debate.round_closed").count() == 1
    assert_next_round_opened_once(debate, 1)


def test_a_deadline_sweep_racing_the_last_turn_closes_the_round_once() -> None:
    agents, debate = six_debaters()
    for agent in agents[1:]:
        take(agent, debate, proposal=approach(agent))
    last = agents[0]
    deadline = fresh(debate).round_deadline
    assert deadline is not None
    now = deadline + timedelta(microseconds=1)

    def sweep() -> int:
        return close_overdue_rounds(now=now)

    calls: list[Callable[[], object]] = [
        lambda: take(last, debate, proposal=approach(last)),
        sweep,
        sweep,
        sweep,
    ]
    outcomes = all_at_once(calls)
    turn = outcomes[0]
    assert isinstance(turn, TurnResult)
    swept = sum(n for n in outcomes[1:] if isinstance(n, int))
    row = DebateRound.objects.get(debate=debate, number=1)
    closed_events = Event.objects.filter(type="debate.round_closed", subject=f"debate:{debate.pk}")
    assert [e.payload["round"] for e in closed_events].count(1) == 1
    assert Turn.objects.filter(debate=debate, round_number=1).count() == PARTICIPANTS
    assert Turn.objects.filter(debate=debate, agent=last, kind="propose").count() == 1
    if turn.closed is not None:  # the turn came first: the sweep found nothing overdue
        assert (swept, row.closed_by, turn.turn.round_number) == (0, "turns", 1)
    else:  # a sweep came first: the agent was silent in round 1, its turn went to round 2
        assert (swept, row.closed_by, turn.turn.round_number) == (1, "deadline", 2)
    assert fresh(debate).current_round == 2


# Separate processes (PostgreSQL) ------------------------------------------------------------


class TurnProcesses:
    """One worker process per agent (``tests.debates.turn_worker``), each started once and
    then given one turn per round; every worker gets its turn at the same moment."""

    def __init__(self, debate: Debate, agents: list[Agent]) -> None:
        database = str(connection.settings_dict["NAME"])
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "peercode.settings"}
        self.workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.debates.turn_worker",
                    database,
                    str(agent.pk),
                    str(debate.pk),
                ],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for agent in agents
        ]
        for worker in self.workers:
            if self.line_of(worker) != "ready":
                self.fail("a turn worker did not start")

    def line_of(self, worker: subprocess.Popen[str]) -> str:
        assert worker.stdout is not None
        return worker.stdout.readline().strip()

    def fail(self, why: str) -> None:
        self.close()
        errors = [worker.communicate(timeout=30)[1] for worker in self.workers]
        pytest.fail(f"{why}:\n" + "\n".join(errors))

    def take(self, turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Give worker i ``turns[i]``, all at once; what each reported."""
        for worker, turn in zip(self.workers, turns, strict=True):
            assert worker.stdin is not None
            worker.stdin.write(json.dumps(turn) + "\n")
        for worker in self.workers:
            assert worker.stdin is not None
            worker.stdin.flush()
        lines = [self.line_of(worker) for worker in self.workers]
        if not all(lines):
            self.fail("a turn worker failed")
        return [json.loads(line) for line in lines]

    def close(self) -> None:
        for worker in self.workers:
            if worker.stdin is not None and not worker.stdin.closed:
                worker.stdin.close()
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - only a hung worker
                worker.kill()


def turn_of(agent: Agent, **turn: Any) -> dict[str, Any]:
    kind = "propose" if "proposal" in turn else "support"
    return {"client_key": f"{agent.name}-{kind}", "kind": kind, "rationale": "Why.", **turn}


@requires_postgresql
def test_turns_from_separate_processes_close_each_round_exactly_once() -> None:
    agents, debate = six_debaters()
    processes = TurnProcesses(debate, agents)
    try:
        reports = processes.take([turn_of(agent, proposal=approach(agent)) for agent in agents])
        assert [(r["closed"], r["outcome"]) for r in reports if r["closed"]] == [(1, "next_round")]
        assert [(r["round"], r["replayed"]) for r in reports] == [(1, False)] * PARTICIPANTS
        assert_next_round_opened_once(debate, 1)
        assert Turn.objects.filter(debate=debate, round_number=1).count() == PARTICIPANTS
        assert Proposal.objects.filter(debate=debate).count() == PARTICIPANTS

        p1 = Proposal.objects.get(debate=debate, number=1).label
        reports = processes.take([turn_of(agent, supports=p1) for agent in agents])
        assert [(r["closed"], r["outcome"]) for r in reports if r["closed"]] == [(2, "consensus")]
    finally:
        processes.close()
    assert Turn.objects.filter(debate=debate, round_number=2).count() == PARTICIPANTS
    subject = f"debate:{debate.pk}"
    closed = Event.objects.filter(type="debate.round_closed", subject=subject)
    assert sorted(e.payload["round"] for e in closed) == [1, 2]
    assert Event.objects.filter(type="debate.decided", subject=subject).count() == 1
    assert fresh(debate).status == "consensus"


@requires_postgresql
def test_one_turn_retried_from_separate_processes_is_stored_once() -> None:
    agents, debate = six_debaters()
    last = agents[0]
    for agent in agents[1:]:
        take(agent, debate, proposal=approach(agent))
    retry = turn_of(last, proposal=approach(last))
    processes = TurnProcesses(debate, [last] * 4)
    try:
        reports = processes.take([retry] * 4)
    finally:
        processes.close()
    assert sorted(r["replayed"] for r in reports) == [False, True, True, True]
    assert len({r["turn"] for r in reports}) == 1
    # The real turn closed round 1; each retry reports that same close.
    assert [r["closed"] for r in reports if not r["replayed"]] == [1]
    assert [r["closed"] for r in reports] == [1, 1, 1, 1]
    assert Turn.objects.filter(debate=debate, agent=last).count() == 1
    assert Event.objects.filter(type="debate.round_closed").count() == 1
    assert_next_round_opened_once(debate, 1)


def test_both_parties_turning_one_proposal_into_a_debate_at_once_get_the_same_one() -> None:
    project = debating_project()
    make_task(project, "T1")
    make_contract(project, "AuthAPI", owner="T1", spec="POST /login")
    owner, _ = make_agent(project, "owner")
    proposer, _ = make_agent(project, "proposer")
    claim_task(agent=owner, task_key="T1")
    seq = push_delta(
        project=project,
        actor=Actor.for_agent(proposer),
        kind="contract_change",
        summary="Login returns a refresh token",
        contracts=["AuthAPI"],
        spec="POST /login returns access and refresh tokens",
    ).delta.seq

    def open_as(agent: Agent) -> Callable[[], Debate]:
        return partial(
            open_debate_from_proposal, project=project, actor=Actor.for_agent(agent), seq=seq
        )

    opened = all_at_once([open_as(owner), open_as(proposer)] * 2)
    assert len({debate.pk for debate in opened}) == 1
    assert Debate.objects.filter(source_delta_seq=seq).count() == 1
    assert Event.objects.filter(type="debate.opened").count() == 1


def test_an_escalation_asks_the_mediator_in_the_background(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a key, the turn that escalates returns at once; the mediator's answer (here a
    refused connection: the summary stays structured, and why is recorded) arrives later."""
    settings.ANTHROPIC_API_KEY = "sk-ant-test"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    project = debating_project(rounds=1)
    ann, _ = make_agent(project, "ann")
    bob, _ = make_agent(project, "bob")
    debate = open_debate(
        project=project, actor=Actor.for_agent(ann), topic="Tokens", participants=["bob"]
    )
    take(ann, debate, proposal="Opaque session tokens in the database")
    assert take(bob, debate, proposal="Signed JWTs for fifteen minutes").closed is not None
    assert fresh(debate).status == "escalated"
    deadline = time.monotonic() + 60
    while not Event.objects.filter(type="debate.mediated").exists():
        assert time.monotonic() < deadline, "the mediator never answered"
        time.sleep(0.2)
    mediated = Event.objects.get(type="debate.mediated")
    assert mediated.payload["source"] == "structured"
    assert "AI mediation failed" in mediated.payload["error"]
    assert fresh(debate).summary_source == "structured"
