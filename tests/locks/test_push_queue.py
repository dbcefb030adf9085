"""The push queue's line: asking for a place, the coupling guard, and what push_status shows.

Time is controlled by the ``clock`` fixture, which stands in for ``django.utils.timezone.now``
(every service reads the clock through it), so a test lets a lease run out by moving the clock
rather than by waiting.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from deltas.models import Delta, DeltaKind
from locks import push
from locks.models import LockSpace, PushStatus, PushTicket
from peercode.errors import Conflict, NotFound, ValidationFailed
from projects.models import Agent, CouplingGuard, Project
from tests.deltas.factories import agent_on, set_coupling_guard
from tests.deltas.factories import push as push_delta
from tests.factories import make_contract, make_project
from tests.locks.push_support import (
    LEASE,
    Clock,
    agent_named,
    events,
    finish,
    lease_of,
    line_of,
    push_events,
    ticket_of,
)

# The clock (tests/locks/conftest.py) stands in for django.utils.timezone.now in every test here.
pytestmark = pytest.mark.usefixtures("clock")


class TestRequestingAPlace:
    def test_the_first_to_ask_gets_the_turn_at_once_with_a_lease_and_a_token(
        self, project: Project, ann: Agent, clock: Clock
    ) -> None:
        before = clock.now
        result = push.request_push(agent=ann)
        assert (result.position, result.warnings, result.already_in_line) == (0, [], False)
        ticket = ticket_of(result)
        assert ticket.branch == "peer-progress"
        assert ticket.status == PushStatus.ACTIVE
        assert ticket.fencing_token == 1
        assert ticket.started_at is not None
        assert before < ticket.started_at <= clock.now
        assert lease_of(ticket) == timedelta(seconds=LEASE)
        assert LockSpace.objects.get(project=project).last_token == 1
        [requested] = events(project, "push.requested")
        assert requested.actor == "agent:ann"
        assert requested.subject == f"push:{ticket.pk}"
        assert requested.payload == {
            "ticket": ticket.pk,
            "branch": "peer-progress",
            "paths": [],
            "position": 0,
        }
        [turn] = events(project, "push.turn")
        assert turn.payload["fencing_token"] == 1
        assert turn.payload["agent"] == "ann"
        assert push_events(project) == ["push.requested", "push.turn"]

    def test_agents_are_lined_up_in_the_order_they_asked_and_told_their_place(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent, dan: Agent
    ) -> None:
        results = [push.request_push(agent=agent) for agent in (ann, bob, cat, dan)]
        assert [result.position for result in results] == [0, 1, 2, 3]
        assert line_of(project) == [
            ("ann", "active"),
            ("bob", "waiting"),
            ("cat", "waiting"),
            ("dan", "waiting"),
        ]
        assert [ticket_of(result).fencing_token for result in results] == [1, None, None, None]
        assert [event.payload["position"] for event in events(project, "push.requested")] == [
            0,
            1,
            2,
            3,
        ]
        assert len(events(project, "push.turn")) == 1

    def test_asking_again_returns_the_same_ticket_and_its_current_place(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        first = push.request_push(agent=ann)
        waiting = push.request_push(agent=bob)
        again = push.request_push(agent=bob)
        assert again.ticket.pk == waiting.ticket.pk
        assert (again.position, again.already_in_line) == (1, True)
        assert push.request_push(agent=ann).ticket.pk == first.ticket.pk
        finish(first)
        moved_up = push.request_push(agent=bob)
        assert moved_up.ticket.pk == waiting.ticket.pk
        assert (moved_up.position, moved_up.already_in_line) == (0, True)
        assert moved_up.ticket.status == PushStatus.ACTIVE
        assert len(events(project, "push.requested")) == 2
        assert PushTicket.objects.filter(project=project).count() == 2

    def test_asking_again_with_other_paths_keeps_the_ticket_and_says_how_to_change_them(
        self, project: Project, ann: Agent
    ) -> None:
        first = push.request_push(agent=ann, paths=["src/app.py"])
        again = push.request_push(agent=ann, paths=["src/other.py"])
        assert again.ticket.pk == first.ticket.pk
        assert again.ticket.paths == ["src/app.py"]
        [warning] = again.warnings
        assert "abandon_push" in warning
        assert push.request_push(agent=ann, paths=["src/app.py"]).warnings == []

    def test_each_branch_has_its_own_line(self, project: Project, ann: Agent, bob: Agent) -> None:
        main = push.request_push(agent=ann)
        feature = push.request_push(agent=bob, branch="feature/login")
        behind = push.request_push(agent=ann, branch="feature/login")
        assert (main.position, feature.position, behind.position) == (0, 0, 1)
        assert behind.ticket.pk != main.ticket.pk
        assert (ticket_of(main).fencing_token, ticket_of(feature).fencing_token) == (1, 2)
        assert line_of(project, "feature/login") == [("bob", "active"), ("ann", "waiting")]

    def test_the_branch_defaults_to_the_projects_integration_branch(
        self, project: Project, ann: Agent
    ) -> None:
        project.integration_branch = "integration"
        project.save(update_fields=["integration_branch"])
        assert push.request_push(agent=ann).ticket.branch == "integration"

    def test_turns_take_tokens_from_the_projects_lock_counter(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        LockSpace.objects.create(project=project, last_token=41)
        first = push.request_push(agent=ann)
        second = push.request_push(agent=bob)
        assert ticket_of(first).fencing_token == 42
        # Lock grants meanwhile take tokens from the same counter.
        LockSpace.objects.filter(project=project).update(last_token=50)
        finish(first)
        assert ticket_of(second).fencing_token == 51
        assert LockSpace.objects.get(project=project).last_token == 51

    def test_paths_are_stored_normalized_each_once_in_the_order_given(
        self, project: Project, ann: Agent
    ) -> None:
        result = push.request_push(
            agent=ann, paths=["src/app.py", "./docs//guide.md", "src\\app.py"]
        )
        assert result.ticket.paths == ["src/app.py", "docs/guide.md"]
        assert events(project, "push.requested")[0].payload["paths"] == [
            "src/app.py",
            "docs/guide.md",
        ]

    @pytest.mark.parametrize(
        "branch",
        [
            "",
            "peer progress",
            " peer-progress",
            "a..b",
            "-peer",
            "peer/",
            "/peer",
            "a//b",
            "peer.lock",
            "a.lock/b",
            "a/.hidden",
            ".hidden",
            "peer.",
            "peer~1",
            "peer^",
            "a:b",
            "peer?",
            "peer*",
            "a[b",
            "a\\b",
            "a\x07b",
            "a\tb",
            "a\x7fb",
            "peer@{1}",
            "@",
            "HEAD",
            "x" * 201,
            42,
            ["peer"],
        ],
    )
    def test_a_bad_branch_name_is_refused_with_what_is_allowed(
        self, project: Project, ann: Agent, branch: Any
    ) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            push.request_push(agent=ann, branch=branch)
        assert excinfo.value.code == "bad_branch"
        assert "Use letters, digits" in excinfo.value.message
        assert not PushTicket.objects.exists()
        assert push_events(project) == []

    @pytest.mark.parametrize(
        "branch", ["main", "feature/login", "release-1.2", "ann_x/fix-3", "v1.0", "a.b/c-d"]
    )
    def test_ordinary_branch_names_are_accepted(
        self, project: Project, ann: Agent, branch: str
    ) -> None:
        assert push.request_push(agent=ann, branch=branch).ticket.branch == branch

    @pytest.mark.parametrize(
        "paths",
        [
            ["/etc/passwd"],
            ["../outside.py"],
            ["src/../../outside.py"],
            [""],
            ["src/app.py", 3],
            "src/app.py",
            {"src/app.py": 1},
            [f"src/file{n}.py" for n in range(501)],
        ],
    )
    def test_bad_paths_are_refused_and_nothing_is_written(
        self, project: Project, ann: Agent, paths: Any
    ) -> None:
        with pytest.raises(ValidationFailed):
            push.request_push(agent=ann, paths=paths)
        assert not PushTicket.objects.exists()
        assert push_events(project) == []


class TestCouplingGuard:
    @pytest.fixture
    def consumer(self, project: Project) -> Agent:
        owner, _ = agent_on(project, "PROVIDE", name="owner")
        make_contract(project, "AuthAPI", owner="PROVIDE", spec="POST /login")
        consumer, _ = agent_on(project, "USE", name="consumer", consumes=["AuthAPI"])
        push_delta(
            project,
            owner,
            kind=DeltaKind.CONTRACT_CHANGE,
            summary="login returns a refresh token",
            contracts=["AuthAPI"],
            spec="POST /login -> refresh token",
        )
        return consumer

    def test_in_warn_mode_the_agent_is_lined_up_and_warned(
        self, project: Project, consumer: Agent
    ) -> None:
        change = Delta.objects.get(project=project)
        result = push.request_push(agent=consumer)
        assert result.position == 0
        [warning] = result.warnings
        assert f"#{change.seq}" in warning
        assert "login returns a refresh token" in warning

    def test_in_refuse_mode_the_request_is_refused_before_anything_is_written(
        self, project: Project, consumer: Agent
    ) -> None:
        set_coupling_guard(project, CouplingGuard.REFUSE)
        consumer = Agent.objects.get(pk=consumer.pk)
        with pytest.raises(Conflict) as excinfo:
            push.request_push(agent=consumer)
        assert excinfo.value.code == "unacknowledged_breaking_change"
        assert excinfo.value.message.startswith("Refused to ask to push")
        assert not PushTicket.objects.exists()
        assert push_events(project) == []
        assert not LockSpace.objects.filter(project=project).exists()


class TestStatus:
    def test_status_shows_the_line_the_holder_until_when_and_your_place(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent, clock: Clock
    ) -> None:
        first = ticket_of(push.request_push(agent=ann, paths=["src/app.py"]))
        push.request_push(agent=bob)
        push.request_push(agent=cat)
        status = push.push_status(agent=cat)
        assert status["branch"] == "peer-progress"
        assert status["head"] is None
        assert [(entry["agent"], entry["position"]) for entry in status["line"]] == [
            ("ann", 0),
            ("bob", 1),
            ("cat", 2),
        ]
        assert status["line"][0]["paths"] == ["src/app.py"]
        assert status["holder"] == {
            "agent": "ann",
            "ticket": first.pk,
            "fencing_token": 1,
            "started_at": first.started_at.isoformat() if first.started_at else None,
            "expires_at": first.expires_at.isoformat() if first.expires_at else None,
        }
        assert (status["your_position"], status["your_ticket"]) == (2, status["line"][2]["id"])
        assert "ticket" not in status

    def test_status_of_an_empty_line_has_no_holder_and_no_place(
        self, project: Project, ann: Agent
    ) -> None:
        status = push.push_status(agent=ann, branch="feature/x")
        assert status == {
            "branch": "feature/x",
            "head": None,
            "line": [],
            "holder": None,
            "your_ticket": None,
            "your_position": None,
        }

    def test_status_of_a_ticket_follows_it_after_it_is_done_and_shows_the_head(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        first = push.request_push(agent=ann, branch="feature/x")
        finish(first, "abcdef1")
        status = push.push_status(agent=bob, ticket_id=first.ticket.pk)
        assert status["branch"] == "feature/x"
        assert status["head"] == "abcdef1"
        assert status["ticket"]["status"] == "completed"
        assert status["ticket"]["commit_sha"] == "abcdef1"
        assert status["ticket"]["position"] is None
        assert status["line"] == []

    def test_status_of_an_unknown_or_foreign_ticket_is_not_found(
        self, project: Project, ann: Agent
    ) -> None:
        stranger = agent_named(make_project(), "stranger")
        foreign = push.request_push(agent=stranger)
        for ticket_id in (foreign.ticket.pk, foreign.ticket.pk + 100):
            with pytest.raises(NotFound) as excinfo:
                push.push_status(agent=ann, ticket_id=ticket_id)
            assert excinfo.value.code == "unknown_ticket"
            assert "request_push" in excinfo.value.message

    def test_the_wire_shape_of_a_ticket(self, project: Project, ann: Agent) -> None:
        ticket = ticket_of(push.request_push(agent=ann, paths=["a.py"]))
        assert ticket.started_at is not None
        assert push.ticket_as_dict(ticket) == {
            "id": ticket.pk,
            "branch": "peer-progress",
            "agent": "ann",
            "status": "active",
            "paths": ["a.py"],
            "fencing_token": 1,
            "requested_at": ticket.requested_at.isoformat(),
            "started_at": ticket.started_at.isoformat(),
            "expires_at": (ticket.started_at + timedelta(seconds=LEASE)).isoformat(),
            "finished_at": None,
            "commit_sha": None,
            "previous_head": None,
            "violations": [],
        }
