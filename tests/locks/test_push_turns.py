"""Turns in the push queue: completing a push, leaving the line, and leases that run out.

Time is controlled by the ``clock`` fixture, which stands in for ``django.utils.timezone.now``
(every service reads the clock through it), so a test lets a lease run out by moving the clock
rather than by waiting.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from channels.layers import BaseChannelLayer, get_channel_layer

from deltas.services import group_name
from locks import push
from locks.models import PushStatus, PushTicket
from peercode.actors import Actor
from peercode.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from projects.models import Agent, Membership, Project, Role
from tests.channel_support import LayerLoop
from tests.factories import make_project, make_user
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


class TestCompleting:
    def test_completing_records_the_commit_and_passes_the_turn_to_the_next_in_line(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent, clock: Clock
    ) -> None:
        first = push.request_push(agent=ann)
        second = push.request_push(agent=bob)
        push.request_push(agent=cat)
        clock.advance(10)
        done = finish(first, "ABC1234")
        assert done.status == PushStatus.COMPLETED
        assert (done.commit_sha, done.previous_head, done.violations) == ("abc1234", "", [])
        turn = ticket_of(second)
        assert turn.status == PushStatus.ACTIVE
        assert turn.fencing_token == 2
        # The turn passes in the transaction that ends the last one.
        assert turn.started_at == done.finished_at
        assert lease_of(turn) == timedelta(seconds=LEASE)
        assert line_of(project) == [("bob", "active"), ("cat", "waiting")]
        [completed] = events(project, "push.completed")
        assert completed.actor == "agent:ann"
        assert completed.payload == {
            "ticket": done.pk,
            "branch": "peer-progress",
            "commit": "abc1234",
            "previous_head": None,
            "fencing_token": 1,
            "checked_with_git": False,
            "changed_files": None,
            "violations": 0,
            "after_lease_expired": False,
        }
        assert events(project, "push.turn")[-1].payload["agent"] == "bob"
        assert finish(second, "def5678").previous_head == "abc1234"
        assert push.push_status(agent=ann)["head"] == "def5678"
        assert not events(project, "push.violation")

    def test_the_agent_that_waited_is_told_its_turn_over_the_project_group(
        self,
        project: Project,
        ann: Agent,
        bob: Agent,
        django_capture_on_commit_callbacks: Any,
        layer_loop: LayerLoop,
    ) -> None:
        layer = get_channel_layer()
        assert layer is not None
        # One loop for the listener: the Redis pub/sub layer knows a channel only in its loop.
        channel = layer_loop.run(layer.new_channel())
        layer_loop.run(layer.group_add(group_name(project.pk), channel))
        with django_capture_on_commit_callbacks(execute=True):
            first = push.request_push(agent=ann)
            second = push.request_push(agent=bob)
        with django_capture_on_commit_callbacks(execute=True):
            finish(first)
        # The first message on the channel is bob's turn: ann, served at once, was not told.
        message = layer_loop.run(receive_within(layer, channel))
        assert message == {
            "type": "push.turn",
            "agent_id": bob.pk,
            "ticket": push.ticket_as_dict(ticket_of(second)),
        }
        layer_loop.run(layer.group_discard(group_name(project.pk), channel))

    def test_a_failing_channel_layer_does_not_undo_the_turn(
        self,
        project: Project,
        ann: Agent,
        bob: Agent,
        settings: Any,
        caplog: pytest.LogCaptureFixture,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.BrokenLayer"}}
        first = push.request_push(agent=ann)
        second = push.request_push(agent=bob)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            finish(first)
        assert len(callbacks) == 1
        assert "the channel layer is down" in caplog.text
        assert ticket_of(second).status == PushStatus.ACTIVE

    @pytest.mark.parametrize(
        "sha", ["", "abc", "xyz1234", "g" * 40, "a" * 65, " abc1234", "abc1234\n", 1234567, None]
    )
    def test_a_bad_commit_sha_is_refused_and_the_turn_is_kept(
        self, project: Project, ann: Agent, sha: Any
    ) -> None:
        first = push.request_push(agent=ann)
        with pytest.raises(ValidationFailed) as excinfo:
            finish(first, sha)
        assert excinfo.value.code == "bad_commit_sha"
        assert "git rev-parse HEAD" in excinfo.value.message
        assert ticket_of(first).status == PushStatus.ACTIVE

    @pytest.mark.parametrize("sha", ["abcd", "0123456789abcdef" * 4, "DEADBEEF" * 5])
    def test_short_and_long_commit_ids_are_accepted(
        self, project: Project, ann: Agent, sha: str
    ) -> None:
        assert finish(push.request_push(agent=ann), sha).commit_sha == sha.lower()

    def test_an_unknown_ticket_or_one_of_another_project_is_not_found(
        self, project: Project, ann: Agent
    ) -> None:
        stranger = agent_named(make_project(), "stranger")
        foreign = ticket_of(push.request_push(agent=stranger))
        for ticket_id in (foreign.pk, foreign.pk + 100):
            with pytest.raises(NotFound) as excinfo:
                push.complete_push(
                    agent=ann, ticket_id=ticket_id, commit_sha="abc1234", fencing_token=1
                )
            assert excinfo.value.code == "unknown_ticket"

    def test_someone_elses_ticket_is_refused(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        first = ticket_of(push.request_push(agent=ann))
        with pytest.raises(PermissionDenied) as excinfo:
            push.complete_push(agent=bob, ticket_id=first.pk, commit_sha="abc1234", fencing_token=1)
        assert excinfo.value.code == "not_your_ticket"
        assert "ann" in excinfo.value.message
        assert ticket_of(first).status == PushStatus.ACTIVE

    def test_completing_before_your_turn_is_refused_with_your_place(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        push.request_push(agent=ann)
        push.request_push(agent=bob)
        waiting = ticket_of(push.request_push(agent=cat))
        with pytest.raises(Conflict) as excinfo:
            push.complete_push(
                agent=cat, ticket_id=waiting.pk, commit_sha="abc1234", fencing_token=1
            )
        assert excinfo.value.code == "not_your_turn"
        assert excinfo.value.details == {"position": 2}
        assert "ann holds it until" in excinfo.value.message
        assert ticket_of(waiting).status == PushStatus.WAITING

    def test_completing_a_finished_ticket_again_is_refused(
        self, project: Project, ann: Agent
    ) -> None:
        done = finish(push.request_push(agent=ann))
        with pytest.raises(Conflict) as excinfo:
            finish(done, "def5678")
        assert excinfo.value.code == "ticket_closed"
        assert "request_push again" in excinfo.value.message
        assert ticket_of(done).commit_sha == "abc1234"

    def test_a_fencing_token_that_is_not_the_tickets_is_refused(
        self, project: Project, ann: Agent
    ) -> None:
        ticket = ticket_of(push.request_push(agent=ann))
        with pytest.raises(Conflict) as excinfo:
            push.complete_push(
                agent=ann, ticket_id=ticket.pk, commit_sha="abc1234", fencing_token=7
            )
        assert excinfo.value.code == "stale_fencing_token"
        assert ticket_of(ticket).status == PushStatus.ACTIVE
        assert not events(project, "push.completed")

    @pytest.mark.parametrize(
        ("ticket_id", "token", "code"),
        [
            ("1", 1, "bad_ticket_id"),
            (0, 1, "bad_ticket_id"),
            (True, 1, "bad_ticket_id"),
            (None, 1, "bad_ticket_id"),
            (1, "1", "bad_fencing_token"),
            (1, -1, "bad_fencing_token"),
            (1, 1.0, "bad_fencing_token"),
        ],
    )
    def test_ids_and_tokens_must_be_whole_numbers(
        self, project: Project, ann: Agent, ticket_id: Any, token: Any, code: str
    ) -> None:
        with pytest.raises(ValidationFailed) as excinfo:
            push.complete_push(
                agent=ann, ticket_id=ticket_id, commit_sha="abc1234", fencing_token=token
            )
        assert excinfo.value.code == code


class TestAbandoning:
    def test_a_waiting_agent_leaves_the_line_and_those_behind_move_up(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        push.request_push(agent=ann)
        waiting = push.request_push(agent=bob)
        push.request_push(agent=cat)
        gone = push.abandon_push(actor=Actor.for_agent(bob), ticket_id=waiting.ticket.pk)
        assert gone.status == PushStatus.ABANDONED
        assert line_of(project) == [("ann", "active"), ("cat", "waiting")]
        assert push.push_status(agent=cat)["your_position"] == 1
        [abandoned] = events(project, "push.abandoned")
        assert abandoned.payload["had_the_turn"] is False
        assert len(events(project, "push.turn")) == 1

    def test_abandoning_the_turn_passes_it_to_the_next_in_line(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        first = push.request_push(agent=ann)
        second = push.request_push(agent=bob)
        push.abandon_push(actor=Actor.for_agent(ann), ticket_id=first.ticket.pk)
        assert ticket_of(second).status == PushStatus.ACTIVE
        assert ticket_of(second).fencing_token == 2
        assert push_events(project)[-2:] == ["push.abandoned", "push.turn"]

    def test_a_staff_human_can_take_any_ticket_out_of_the_line(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        first = push.request_push(agent=ann)
        second = push.request_push(agent=bob)
        admin = Actor.for_user(make_user(username="alice", staff=True))
        push.abandon_push(actor=admin, ticket_id=first.ticket.pk)
        assert ticket_of(first).status == PushStatus.ABANDONED
        assert ticket_of(second).status == PushStatus.ACTIVE
        [abandoned] = events(project, "push.abandoned")
        assert abandoned.actor == "user:alice"
        assert abandoned.payload["agent"] == "ann"

    def test_another_agent_or_a_non_staff_human_cannot_abandon_a_ticket(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        first = push.request_push(agent=ann)
        visitor = Actor.for_user(make_user(username="visitor", staff=False))
        viewer = make_user(username="viewer", staff=False)
        Membership.objects.create(project=project, user=viewer, role=Role.VIEWER)
        refusals = [
            (Actor.for_agent(bob), "not_your_ticket"),
            # Humans need the lead role (STEER_LOCKS), member or not.
            (visitor, "role_required"),
            (Actor.for_user(viewer), "role_required"),
        ]
        for actor, code in refusals:
            with pytest.raises(PermissionDenied) as excinfo:
                push.abandon_push(actor=actor, ticket_id=first.ticket.pk)
            assert excinfo.value.code == code
        assert ticket_of(first).status == PushStatus.ACTIVE

    def test_abandoning_a_finished_unknown_or_foreign_ticket_is_refused(
        self, project: Project, ann: Agent
    ) -> None:
        done = finish(push.request_push(agent=ann))
        with pytest.raises(Conflict) as closed:
            push.abandon_push(actor=Actor.for_agent(ann), ticket_id=done.pk)
        assert closed.value.code == "ticket_closed"
        stranger = agent_named(make_project(), "stranger")
        foreign = push.request_push(agent=stranger)
        for ticket_id in (foreign.ticket.pk, foreign.ticket.pk + 100):
            with pytest.raises(NotFound):
                push.abandon_push(actor=Actor.for_agent(ann), ticket_id=ticket_id)
        admin = Actor.for_user(make_user(staff=True))
        with pytest.raises(NotFound):
            push.abandon_push(actor=admin, ticket_id=foreign.ticket.pk + 100)


class TestExpiry:
    def test_an_expired_lease_passes_the_turn_on_at_the_next_call_without_a_sweeper(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        first = push.request_push(agent=ann)
        second = push.request_push(agent=bob)
        clock.advance(LEASE - 1)
        assert push.push_status(agent=bob)["holder"]["agent"] == "ann"
        clock.advance(1)
        status = push.push_status(agent=bob)
        assert status["holder"]["agent"] == "bob"
        assert status["your_position"] == 0
        expired = ticket_of(first)
        assert expired.status == PushStatus.EXPIRED
        turn = ticket_of(second)
        assert turn.fencing_token == 2
        assert turn.started_at == expired.finished_at
        assert lease_of(turn) == timedelta(seconds=LEASE)
        [event] = events(project, "push.expired")
        assert event.actor == "push-queue"
        assert event.payload["agent"] == "ann"
        assert events(project, "push.turn")[-1].actor == "push-queue"

    def test_once_the_turn_passed_the_old_token_is_refused(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        first = push.request_push(agent=ann)
        push.request_push(agent=bob)
        clock.advance(LEASE + 1)
        with pytest.raises(Conflict) as excinfo:
            finish(first)
        assert excinfo.value.code == "turn_passed"
        assert "your turn passed; request_push again" in excinfo.value.message
        assert "bob" in excinfo.value.message
        assert excinfo.value.details == {"newer_fencing_token": 2}
        # The expiry itself was recorded, though the completion was refused.
        assert ticket_of(first).status == PushStatus.EXPIRED
        assert len(events(project, "push.expired")) == 1
        again = push.request_push(agent=ann)
        assert (again.position, again.already_in_line) == (1, False)

    def test_a_late_completion_counts_when_nobody_got_the_turn_since(
        self, project: Project, ann: Agent, clock: Clock
    ) -> None:
        first = push.request_push(agent=ann)
        clock.advance(LEASE * 2)
        done = finish(first)
        assert done.status == PushStatus.COMPLETED
        assert push_events(project) == [
            "push.requested",
            "push.turn",
            "push.expired",
            "push.completed",
        ]
        assert events(project, "push.completed")[0].payload["after_lease_expired"] is True

    def test_a_late_completion_is_refused_once_someone_else_got_the_turn(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        first = push.request_push(agent=ann)
        clock.advance(LEASE + 1)
        late = push.request_push(agent=bob)
        assert late.position == 0
        with pytest.raises(Conflict) as excinfo:
            finish(first)
        assert excinfo.value.code == "turn_passed"

    def test_the_sweeper_ends_due_leases_in_every_project_and_says_how_many(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        other = make_project()
        carl, dora = agent_named(other, "carl"), agent_named(other, "dora")
        for agent in (ann, bob, carl, dora):
            push.request_push(agent=agent)
        asked = clock.now
        assert push.expire_push_leases(now=asked + timedelta(seconds=LEASE - 1)) == 0
        assert push.expire_push_leases(now=asked + timedelta(seconds=LEASE)) == 2
        assert line_of(project) == [("bob", "active")]
        assert line_of(other, "peer-progress") == [("dora", "active")]
        assert PushTicket.objects.get(agent=bob).started_at == asked + timedelta(seconds=LEASE)
        assert push.expire_push_leases(now=asked + timedelta(seconds=LEASE)) == 0

    def test_an_expired_lease_with_nobody_waiting_empties_the_line(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        push.request_push(agent=ann)
        clock.advance(LEASE)
        assert push.expire_push_leases() == 1
        assert line_of(project) == []
        assert push.request_push(agent=bob).position == 0


async def receive_within(layer: BaseChannelLayer, channel: str) -> dict[str, Any]:
    # A guard against a hang when nothing comes, not a timing assertion.
    return await asyncio.wait_for(layer.receive(channel), timeout=10)


class BrokenLayer(BaseChannelLayer):
    """A channel layer whose every send fails, as an unreachable Redis would."""

    extensions = ["groups"]

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        raise ConnectionError("the channel layer is down")
