from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from deltas import selectors, services
from deltas.models import AgentCursor, Delta, DeltaKind, DeltaStream, Significance
from peercode.actors import Actor
from peercode.errors import Conflict, PeerCodeError, PermissionDenied, ValidationFailed
from peercode.events.models import Event
from projects.models import Agent, Contract, CouplingGuard, Project
from tests.channel_support import LayerLoop
from tests.deltas.factories import agent_on, push, set_coupling_guard
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_task, make_user

pytestmark = pytest.mark.django_db


def events_of(project: Project, type_: str) -> list[Event]:
    return list(Event.objects.filter(project=project, type=type_).order_by("created_at"))


def versions_of(contract_name: str, project: Project) -> list[int]:
    contract = Contract.objects.get(project=project, name=contract_name)
    return list(contract.versions.order_by("number").values_list("number", flat=True))


@pytest.fixture
def project() -> Project:
    return make_project()


@pytest.fixture
def agent(project: Project) -> Agent:
    agent, _ = make_agent(project, "ann")
    return agent


class TestPushing:
    def test_deltas_are_numbered_1_2_3_and_each_records_a_pushed_event(
        self, project: Project, agent: Agent
    ) -> None:
        results = [push(project, agent, summary=f"finding {n}") for n in range(3)]
        assert [r.delta.seq for r in results] == [1, 2, 3]
        assert not any(r.folded for r in results)
        assert selectors.head_of(project) == 3
        pushed = events_of(project, "delta.pushed")
        assert [e.subject for e in pushed] == ["delta:1", "delta:2", "delta:3"]
        assert pushed[0].actor == "agent:ann"
        assert pushed[0].payload == {
            "seq": 1,
            "kind": "discovery",
            "significance": "normal",
            "summary": "finding 0",
            "contract_version": None,
            "proposal": False,
        }

    def test_each_project_has_its_own_sequence(self, project: Project, agent: Agent) -> None:
        elsewhere = make_project()
        stranger, _ = make_agent(elsewhere)
        push(project, agent)
        push(project, agent)
        assert push(elsewhere, stranger).delta.seq == 1
        assert push(project, agent).delta.seq == 3

    def test_the_stored_delta_holds_what_was_pushed_with_touched_items_cleaned(
        self, project: Project, agent: Agent
    ) -> None:
        make_task(project, "A")
        make_task(project, "B")
        make_contract(project, "AuthAPI")
        delta = push(
            project,
            agent,
            kind=DeltaKind.NEW_DEPENDENCY,
            summary="  Added pyjwt  ",
            significance=Significance.INFO,
            body="pyjwt 2.9 for token signing",
            tasks=["B", "A", "B"],
            contracts=["AuthAPI", "AuthAPI"],
            paths=["src\\auth\\tokens.py", "src/auth/tokens.py", " requirements.txt "],
        ).delta
        stored = Delta.objects.get(pk=delta.pk)
        assert stored.author == agent
        assert stored.author_label == "agent:ann"
        assert stored.summary == "Added pyjwt"
        assert (stored.kind, stored.significance) == ("new_dependency", "info")
        assert stored.tasks == ["B", "A"]
        assert stored.contracts == ["AuthAPI"]
        assert stored.paths == ["src/auth/tokens.py", "requirements.txt"]

    def test_a_human_can_push_and_is_named_as_author(self, project: Project) -> None:
        user = make_user(username="maria")
        delta = push(project, Actor.for_user(user), summary="Freeze the schema").delta
        assert delta.author is None
        assert delta.author_label == "user:maria"
        assert events_of(project, "delta.pushed")[0].actor == "user:maria"

    def test_deltas_are_append_only(self, project: Project, agent: Agent) -> None:
        delta = push(project, agent, summary="original").delta
        delta.summary = "rewritten"
        with pytest.raises(RuntimeError, match="append-only"):
            delta.save()
        assert Delta.objects.get(pk=delta.pk).summary == "original"


BAD_PUSHES: list[tuple[str, dict[str, Any], type[PeerCodeError], str | None, str]] = [
    ("unknown kind", {"kind": "rumour"}, ValidationFailed, "unknown_kind", "contract_change"),
    (
        "unknown significance",
        {"significance": "urgent"},
        ValidationFailed,
        "unknown_significance",
        "breaking",
    ),
    ("empty summary", {"summary": ""}, ValidationFailed, "empty_summary", "summary"),
    ("blank summary", {"summary": "   \n"}, ValidationFailed, "empty_summary", "summary"),
    ("long summary", {"summary": "x" * 201}, ValidationFailed, "summary_too_long", "body"),
    ("long body", {"body": "x" * 20001}, ValidationFailed, None, "body"),
    ("unknown task", {"tasks": ["A", "NOPE"]}, ValidationFailed, "unknown_task", "NOPE"),
    ("unknown contract", {"contracts": ["Nope"]}, ValidationFailed, "unknown_contract", "Nope"),
    ("absolute path", {"paths": ["/etc/passwd"]}, ValidationFailed, None, "/etc/passwd"),
    ("path leaving the repo", {"paths": ["../secrets"]}, ValidationFailed, None, "'..'"),
    ("empty path", {"paths": [""]}, ValidationFailed, None, "non-empty"),
    (
        "spec on a decision",
        {"kind": "decision", "contracts": ["AuthAPI"], "spec": "POST /v2"},
        ValidationFailed,
        "spec_without_contract_change",
        "contract_change",
    ),
    (
        "spec without a contract",
        {"kind": "contract_change", "spec": "POST /v2"},
        ValidationFailed,
        "spec_needs_one_contract",
        "exactly one",
    ),
    (
        "spec with two contracts",
        {"kind": "contract_change", "contracts": ["AuthAPI", "Billing"], "spec": "POST /v2"},
        ValidationFailed,
        "spec_needs_one_contract",
        "exactly one",
    ),
    (
        "empty spec from the owner",
        {"kind": "contract_change", "contracts": ["AuthAPI"], "spec": " ", "by": "owner"},
        ValidationFailed,
        "empty_spec",
        "spec",
    ),
    (
        "empty spec from a non-owner",
        {"kind": "contract_change", "contracts": ["AuthAPI"], "spec": "", "by": "ann"},
        ValidationFailed,
        "empty_spec",
        "spec",
    ),
    ("agent of another project", {"by": "stranger"}, PermissionDenied, "wrong_project", "token"),
]


class TestBadInput:
    @pytest.mark.parametrize(
        ("arguments", "error", "code", "hint"),
        [case[1:] for case in BAD_PUSHES],
        ids=[case[0] for case in BAD_PUSHES],
    )
    def test_bad_push_is_refused_with_a_clear_error_and_changes_nothing(
        self,
        project: Project,
        agent: Agent,
        arguments: dict[str, Any],
        error: type[PeerCodeError],
        code: str | None,
        hint: str,
    ) -> None:
        owner, _ = agent_on(project, "A", name="owner")
        make_contract(project, "AuthAPI", owner="A")
        make_contract(project, "Billing")
        stranger, _ = make_agent(make_project(), "stranger")
        by = {"owner": owner, "ann": agent, "stranger": stranger}[arguments.pop("by", "ann")]
        before = Event.objects.count()
        with pytest.raises(error) as excinfo:
            push(project, by, **{"summary": "valid summary", **arguments})
        if code is not None:
            assert excinfo.value.code == code
        assert hint in excinfo.value.message
        assert Delta.objects.count() == 0
        assert Event.objects.count() == before
        assert selectors.head_of(project) == 0
        assert versions_of("AuthAPI", project) == [1]

    def test_unknown_task_error_lists_every_unknown_key(
        self, project: Project, agent: Agent
    ) -> None:
        make_task(project, "A")
        with pytest.raises(ValidationFailed) as excinfo:
            push(project, agent, tasks=["X", "A", "Y"])
        assert excinfo.value.details == {"unknown": ["X", "Y"]}


class TestContractOwnership:
    @pytest.fixture
    def owner(self, project: Project) -> Agent:
        owner, _ = agent_on(project, "PROVIDE", name="owner")
        make_contract(project, "AuthAPI", owner="PROVIDE", spec="POST /login")
        return owner

    def contract_change(self, project: Project, by: Agent | Actor, **kw: Any) -> Any:
        return push(
            project,
            by,
            kind=DeltaKind.CONTRACT_CHANGE,
            summary=kw.pop("summary", "login returns a refresh token"),
            contracts=["AuthAPI"],
            spec=kw.pop("spec", "POST /login -> {access, refresh}"),
            **kw,
        )

    def test_the_owner_publishes_the_next_version_with_its_delta(
        self, project: Project, owner: Agent
    ) -> None:
        result = self.contract_change(project, owner)
        assert result.contract_version is not None
        assert result.contract_version.number == 2
        assert result.contract_version.spec == "POST /login -> {access, refresh}"
        assert result.contract_version.rationale == "login returns a refresh token"
        assert result.contract_version.author_agent == owner
        assert result.delta.contract_version == result.contract_version
        assert result.delta.proposed_spec == ""
        assert versions_of("AuthAPI", project) == [1, 2]
        published = events_of(project, "contract.version_published")
        assert [e.payload["version"] for e in published] == [1, 2]
        assert published[-1].actor == "agent:owner"
        pushed = events_of(project, "delta.pushed")[-1].payload
        assert (pushed["contract_version"], pushed["proposal"]) == (2, False)

    def test_a_non_owner_spec_is_recorded_as_a_proposal_without_a_new_version(
        self, project: Project, owner: Agent
    ) -> None:
        make_task(project, "USE", consumes=["AuthAPI"])
        consumer, _ = make_agent(project, "consumer")
        result = self.contract_change(project, consumer, spec="POST /login -> {token}")
        assert result.contract_version is None
        assert result.delta.contract_version is None
        assert result.delta.proposed_spec == "POST /login -> {token}"
        assert versions_of("AuthAPI", project) == [1]
        assert len(events_of(project, "contract.version_published")) == 1
        pushed = events_of(project, "delta.pushed")[-1].payload
        assert (pushed["contract_version"], pushed["proposal"]) == (None, True)

    def test_a_contract_without_an_owner_task_only_takes_proposals_from_agents(
        self, project: Project, agent: Agent
    ) -> None:
        make_contract(project, "Orphan", spec="v1")
        result = push(
            project, agent, kind=DeltaKind.CONTRACT_CHANGE, contracts=["Orphan"], spec="v2"
        )
        assert result.contract_version is None
        assert result.delta.proposed_spec == "v2"
        assert versions_of("Orphan", project) == [1]

    def test_a_human_publishes_the_next_version(self, project: Project, owner: Agent) -> None:
        human = Actor.for_user(make_user(username="lead"))
        result = self.contract_change(project, human)
        assert result.contract_version is not None
        assert result.contract_version.number == 2
        assert result.contract_version.author == "user:lead"
        assert versions_of("AuthAPI", project) == [1, 2]

    def test_the_system_publishes_the_next_version(self, project: Project, owner: Agent) -> None:
        result = self.contract_change(project, SYSTEM)
        assert result.contract_version is not None
        assert versions_of("AuthAPI", project) == [1, 2]

    def test_a_contract_change_without_spec_only_records_the_delta(
        self, project: Project, owner: Agent
    ) -> None:
        result = push(project, owner, kind=DeltaKind.CONTRACT_CHANGE, contracts=["AuthAPI"])
        assert result.contract_version is None
        assert result.delta.proposed_spec == ""
        assert versions_of("AuthAPI", project) == [1]

    def test_repeating_a_contract_change_with_a_new_spec_publishes_it_rather_than_folding(
        self, project: Project, owner: Agent
    ) -> None:
        self.contract_change(project, owner, summary="login changed", spec="v2 spec")
        again = self.contract_change(project, owner, summary="login changed", spec="v3 spec")
        assert not again.folded
        assert again.contract_version is not None
        assert again.contract_version.number == 3
        assert versions_of("AuthAPI", project) == [1, 2, 3]


class TestAcknowledgement:
    def test_ack_moves_the_cursor_and_records_the_move(
        self, project: Project, agent: Agent
    ) -> None:
        pusher, _ = make_agent(project, "pusher")
        for _ in range(3):
            push(project, pusher)
        cursor = services.ack_updates(agent=agent, seq=2)
        assert cursor.acked_seq == 2
        assert cursor.acked_at is not None
        assert selectors.cursor_of(agent) == 2
        [event] = events_of(project, "deltas.acknowledged")
        assert event.actor == "agent:ann"
        assert event.subject == "agent:ann"
        assert event.payload == {"from": 0, "to": 2}

    def test_ack_beyond_the_head_is_refused_and_changes_nothing(
        self, project: Project, agent: Agent
    ) -> None:
        push(project, agent)
        services.ack_updates(agent=agent, seq=1)
        before = Event.objects.count()
        with pytest.raises(ValidationFailed) as excinfo:
            services.ack_updates(agent=agent, seq=2)
        assert excinfo.value.code == "ack_beyond_head"
        assert excinfo.value.details == {"head": 1}
        assert "seq 2" in excinfo.value.message
        assert selectors.cursor_of(agent) == 1
        assert Event.objects.count() == before

    def test_ack_before_any_delta_exists_is_refused_except_for_zero(
        self, project: Project, agent: Agent
    ) -> None:
        with pytest.raises(ValidationFailed, match="newest delta is 0"):
            services.ack_updates(agent=agent, seq=1)
        assert services.ack_updates(agent=agent, seq=0).acked_seq == 0
        assert events_of(project, "deltas.acknowledged") == []

    def test_the_cursor_never_moves_back(self, project: Project, agent: Agent) -> None:
        for _ in range(3):
            push(project, agent)
        services.ack_updates(agent=agent, seq=3)
        assert services.ack_updates(agent=agent, seq=1).acked_seq == 3
        assert services.ack_updates(agent=agent, seq=3).acked_seq == 3
        assert selectors.cursor_of(agent) == 3
        assert len(events_of(project, "deltas.acknowledged")) == 1

    @pytest.mark.parametrize("seq", [-1, True, "2", 1.5, None])
    def test_a_seq_that_is_not_a_whole_number_is_refused(
        self, project: Project, agent: Agent, seq: Any
    ) -> None:
        push(project, agent)
        with pytest.raises(ValidationFailed) as excinfo:
            services.ack_updates(agent=agent, seq=seq)
        assert excinfo.value.code == "bad_seq"
        assert repr(seq) in excinfo.value.message
        assert not AgentCursor.objects.filter(agent=agent).exists()

    def test_cursors_are_per_agent(self, project: Project, agent: Agent) -> None:
        bob, _ = make_agent(project, "bob")
        push(project, agent)
        push(project, agent)
        services.ack_updates(agent=agent, seq=2)
        services.ack_updates(agent=bob, seq=1)
        assert (selectors.cursor_of(agent), selectors.cursor_of(bob)) == (2, 1)


class TestCouplingGuard:
    @pytest.fixture
    def team(self, project: Project) -> dict[str, Agent]:
        owner, _ = agent_on(project, "PROVIDE", name="owner")
        make_contract(project, "AuthAPI", owner="PROVIDE", spec="POST /login")
        make_contract(project, "Billing", spec="GET /invoices")
        consumer, _ = agent_on(project, "USE", name="consumer", consumes=["AuthAPI"])
        bystander, _ = agent_on(project, "ELSE", name="bystander", consumes=["Billing"])
        return {"owner": owner, "consumer": consumer, "bystander": bystander}

    def publish(self, project: Project, owner: Agent, summary: str) -> Delta:
        return push(
            project,
            owner,
            kind=DeltaKind.CONTRACT_CHANGE,
            summary=summary,
            contracts=["AuthAPI"],
            spec=f"spec for {summary}",
        ).delta

    def test_claiming_a_task_that_consumes_a_changed_contract_warns_before_the_claim(
        self, project: Project, team: dict[str, Agent]
    ) -> None:
        make_task(project, "NEXT", consumes=["AuthAPI"])
        change = self.publish(project, team["owner"], "login returns a refresh token")
        # The bystander holds nothing that consumes AuthAPI, but the task it is claiming does.
        assert services.coupling_guard(agent=team["bystander"], action="claim") == []
        warnings = services.coupling_guard(
            agent=team["bystander"], action="claim task NEXT", task_key="NEXT"
        )
        assert len(warnings) == 1
        assert f"#{change.seq}" in warnings[0]

    def test_without_pending_changes_the_guard_is_silent(
        self, project: Project, team: dict[str, Agent]
    ) -> None:
        assert services.coupling_guard(agent=team["consumer"], action="acquire a lock") == []

    def test_warn_mode_names_each_unacknowledged_change_by_seq_and_summary(
        self, project: Project, team: dict[str, Agent]
    ) -> None:
        first = self.publish(project, team["owner"], "login returns a refresh token")
        second = self.publish(project, team["owner"], "logout needs the refresh token")
        before = Event.objects.count()
        warnings = services.coupling_guard(agent=team["consumer"], action="acquire a lock")
        assert len(warnings) == 2
        assert f"#{first.seq}" in warnings[0]
        assert "login returns a refresh token" in warnings[0]
        assert "AuthAPI" in warnings[0]
        assert "ack_updates" in warnings[0]
        assert f"#{second.seq}" in warnings[1]
        assert "logout needs the refresh token" in warnings[1]
        assert Event.objects.count() == before

    def test_refuse_mode_raises_conflict_and_changes_nothing(
        self, project: Project, team: dict[str, Agent]
    ) -> None:
        change = self.publish(project, team["owner"], "login returns a refresh token")
        set_coupling_guard(project, CouplingGuard.REFUSE)
        consumer = Agent.objects.get(pk=team["consumer"].pk)
        before = Event.objects.count()
        with pytest.raises(Conflict) as excinfo:
            services.coupling_guard(agent=consumer, action="acquire a lock")
        assert excinfo.value.code == "unacknowledged_breaking_change"
        assert excinfo.value.details == {"seqs": [change.seq]}
        assert excinfo.value.message.startswith("Refused to acquire a lock")
        assert f"#{change.seq}" in excinfo.value.message
        assert "login returns a refresh token" in excinfo.value.message
        assert Event.objects.count() == before
        assert selectors.cursor_of(consumer) == 0

    @pytest.mark.parametrize("mode", [CouplingGuard.WARN, CouplingGuard.REFUSE])
    def test_acknowledging_the_change_clears_the_guard(
        self, project: Project, team: dict[str, Agent], mode: CouplingGuard
    ) -> None:
        change = self.publish(project, team["owner"], "login returns a refresh token")
        set_coupling_guard(project, mode)
        consumer = Agent.objects.get(pk=team["consumer"].pk)
        services.ack_updates(agent=consumer, seq=change.seq)
        assert services.coupling_guard(agent=consumer, action="push") == []

    def test_acknowledging_part_of_the_changes_leaves_the_later_ones(
        self, project: Project, team: dict[str, Agent]
    ) -> None:
        first = self.publish(project, team["owner"], "first change")
        second = self.publish(project, team["owner"], "second change")
        services.ack_updates(agent=team["consumer"], seq=first.seq)
        [warning] = services.coupling_guard(agent=team["consumer"], action="push")
        assert f"#{second.seq}" in warning

    def test_the_guard_ignores_the_authors_own_change_and_non_consumers(
        self, project: Project, team: dict[str, Agent]
    ) -> None:
        self.publish(project, team["owner"], "login returns a refresh token")
        set_coupling_guard(project, CouplingGuard.REFUSE)
        for name in ("owner", "bystander"):
            agent = Agent.objects.get(pk=team[name].pk)
            assert services.coupling_guard(agent=agent, action="push") == []

    def test_proposals_and_other_breaking_deltas_do_not_trip_the_guard(
        self, project: Project, team: dict[str, Agent]
    ) -> None:
        push(
            project,
            team["bystander"],
            kind=DeltaKind.CONTRACT_CHANGE,
            contracts=["AuthAPI"],
            spec="a counter-proposal",
        )
        push(project, team["owner"], significance=Significance.BREAKING, summary="CI is red")
        assert services.coupling_guard(agent=team["consumer"], action="push") == []


class TestFolding:
    def test_a_repeat_within_the_window_is_folded_into_the_first(
        self, project: Project, agent: Agent
    ) -> None:
        make_task(project, "A")
        first = push(project, agent, summary="tests are flaky", tasks=["A"], paths=["tests/**"])
        again = push(project, agent, summary="tests are flaky", tasks=["A"], paths=["tests/**"])
        third = push(project, agent, summary="tests are flaky", tasks=["A"], paths=["tests/**"])
        assert (again.folded, third.folded) == (True, True)
        assert again.delta.pk == third.delta.pk == first.delta.pk
        assert third.delta.folded == 2
        assert Delta.objects.get(pk=first.delta.pk).folded == 2
        assert Delta.objects.count() == 1
        assert selectors.head_of(project) == 1
        assert len(events_of(project, "delta.pushed")) == 1
        folded = events_of(project, "delta.folded")
        assert [e.payload for e in folded] == [{"seq": 1, "folded": 1}, {"seq": 1, "folded": 2}]
        assert folded[0].subject == "delta:1"

    def test_touched_items_in_another_order_still_fold(
        self, project: Project, agent: Agent
    ) -> None:
        make_task(project, "A")
        make_task(project, "B")
        push(project, agent, summary="same", tasks=["A", "B"], paths=["x.py", "y.py"])
        again = push(project, agent, summary="same", tasks=["B", "A"], paths=["y.py", "x.py"])
        assert again.folded

    @pytest.mark.parametrize(
        "change",
        [
            {"paths": ["src/other.py"]},
            {"summary": "tests are flaky again"},
            {"kind": DeltaKind.BLOCKER},
            {"significance": Significance.BREAKING},
            {"tasks": ["A"]},
        ],
        ids=["other paths", "other summary", "other kind", "now breaking", "other tasks"],
    )
    def test_a_push_that_differs_is_stored_anew(
        self, project: Project, agent: Agent, change: dict[str, Any]
    ) -> None:
        make_task(project, "A")
        original: dict[str, Any] = {"summary": "tests are flaky", "paths": ["src/x.py"]}
        push(project, agent, **original)
        again = push(project, agent, **{**original, **change})
        assert not again.folded
        assert again.delta.seq == 2
        assert events_of(project, "delta.folded") == []

    def test_the_same_push_by_another_agent_is_stored_anew(
        self, project: Project, agent: Agent
    ) -> None:
        bob, _ = make_agent(project, "bob")
        push(project, agent, summary="tests are flaky")
        assert not push(project, bob, summary="tests are flaky").folded

    def test_a_repeat_of_a_delta_older_than_the_window_is_stored_anew(
        self, project: Project, agent: Agent, settings: Any
    ) -> None:
        settings.PEERCODE_DELTA_FOLD_SECONDS = 300
        first = push(project, agent, summary="tests are flaky").delta
        # Age the first delta rather than wait: created_at is what the window is measured on.
        Delta.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(seconds=301))
        again = push(project, agent, summary="tests are flaky")
        assert not again.folded
        assert again.delta.seq == 2
        assert Delta.objects.get(pk=first.pk).folded == 0

    def test_humans_pushes_are_never_folded(self, project: Project) -> None:
        human = Actor.for_user(make_user())
        push(project, human, summary="freeze")
        assert not push(project, human, summary="freeze").folded
        assert selectors.head_of(project) == 2


def subscribe(loop: LayerLoop, project: Project) -> str:
    """A channel in the project's delta group, as a WebSocket consumer would hold."""
    layer = get_channel_layer()

    async def join() -> str:
        channel = await layer.new_channel()
        await layer.group_add(services.group_name(project.pk), channel)
        return channel

    return loop.run(join())


def receive(loop: LayerLoop, channel: str) -> dict[str, Any]:
    layer = get_channel_layer()
    return loop.run(asyncio.wait_for(layer.receive(channel), timeout=5))


def send_marker(project: Project, label: str) -> None:
    """A message sent straight to the group: what arrives before it was sent before it."""
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(
        services.group_name(project.pk), {"type": "test.marker", "label": label}
    )


@pytest.mark.django_db(transaction=True)
class TestBroadcast:
    @pytest.fixture(autouse=True)
    def empty_layer(self, layer_loop: LayerLoop) -> None:
        layer_loop.run(get_channel_layer().flush())

    def test_a_committed_delta_reaches_the_projects_group_in_its_wire_shape(
        self, project: Project, agent: Agent, layer_loop: LayerLoop
    ) -> None:
        channel = subscribe(layer_loop, project)
        delta = push(project, agent, summary="schema frozen").delta
        message = receive(layer_loop, channel)
        assert message["type"] == "delta.pushed"
        assert message["delta"] == selectors.as_dict(delta)

    def test_a_delta_is_sent_only_when_the_outer_transaction_commits(
        self, project: Project, agent: Agent, layer_loop: LayerLoop
    ) -> None:
        channel = subscribe(layer_loop, project)
        with transaction.atomic():
            push(project, agent, summary="inside a larger change")
            send_marker(project, "before commit")
        assert receive(layer_loop, channel) == {"type": "test.marker", "label": "before commit"}
        assert receive(layer_loop, channel)["delta"]["summary"] == "inside a larger change"

    def test_a_rolled_back_delta_is_never_sent(
        self, project: Project, agent: Agent, layer_loop: LayerLoop
    ) -> None:
        channel = subscribe(layer_loop, project)

        class Abandon(Exception):
            pass

        with pytest.raises(Abandon), transaction.atomic():
            push(project, agent, summary="never happened")
            raise Abandon
        assert selectors.head_of(project) == 0
        assert Delta.objects.count() == 0
        committed = push(project, agent, summary="this one happened").delta
        message = receive(layer_loop, channel)
        assert message["delta"]["summary"] == "this one happened"
        assert message["delta"]["seq"] == committed.seq == 1

    def test_a_folded_push_is_not_sent_again(
        self, project: Project, agent: Agent, layer_loop: LayerLoop
    ) -> None:
        channel = subscribe(layer_loop, project)
        push(project, agent, summary="tests are flaky")
        assert push(project, agent, summary="tests are flaky").folded
        send_marker(project, "after the fold")
        assert receive(layer_loop, channel)["delta"]["summary"] == "tests are flaky"
        assert receive(layer_loop, channel) == {"type": "test.marker", "label": "after the fold"}

    def test_deltas_reach_only_their_own_projects_group(
        self, project: Project, agent: Agent, layer_loop: LayerLoop
    ) -> None:
        elsewhere = make_project()
        stranger, _ = make_agent(elsewhere)
        channel = subscribe(layer_loop, project)
        push(elsewhere, stranger, summary="not for you")
        push(project, agent, summary="for you")
        assert receive(layer_loop, channel)["delta"]["summary"] == "for you"


class TestStreamRow:
    def test_the_stream_row_is_created_with_the_first_delta(
        self, project: Project, agent: Agent
    ) -> None:
        assert not DeltaStream.objects.filter(project=project).exists()
        push(project, agent)
        assert DeltaStream.objects.get(project=project).head == 1


class DeltaStreamMachine(RuleBasedStateMachine):
    """Random interleavings of pushes (fresh and repeated, by agents and a human) and acks
    (behind, at and beyond the head), checked against a model of head, folds and cursors."""

    pushes = Bundle("pushes")

    def __init__(self) -> None:
        super().__init__()
        self.project = make_project()
        make_task(self.project, "A")
        make_task(self.project, "B")
        self.agents = [make_agent(self.project, name)[0] for name in ("ann", "bob", "cy")]
        self.human = Actor.for_user(make_user())
        self.head = 0
        self.seq_of: dict[tuple[Any, ...], int] = {}  # fold key -> the seq it folds into
        self.folds: dict[int, int] = {}
        self.cursors = {agent.pk: 0 for agent in self.agents}
        self.seen_cursors = dict(self.cursors)

    def fold_key(self, push: dict[str, Any]) -> tuple[Any, ...]:
        return (
            push["author"],
            push["kind"],
            push["significance"],
            push["summary"],
            tuple(sorted(push["tasks"])),
            tuple(sorted(push["paths"])),
        )

    def push_as_agent(self, push: dict[str, Any]) -> services.PushResult:
        return services.push_delta(
            project=self.project,
            actor=Actor.for_agent(self.agents[push["author"]]),
            kind=push["kind"],
            significance=push["significance"],
            summary=push["summary"],
            tasks=push["tasks"],
            paths=push["paths"],
        )

    @rule(
        target=pushes,
        author=st.integers(0, 2),
        kind=st.sampled_from([DeltaKind.DISCOVERY, DeltaKind.BLOCKER]),
        significance=st.sampled_from([Significance.NORMAL, Significance.BREAKING]),
        summary=st.sampled_from(["tests are flaky", "schema changed"]),
        tasks=st.lists(st.sampled_from(["A", "B"]), unique=True),
        paths=st.lists(st.sampled_from(["src/api/**", "docs/x.md"]), unique=True),
    )
    def push(self, **push: Any) -> dict[str, Any]:
        result = self.push_as_agent(push)
        self.expect(push, result)
        return push

    @rule(previous=pushes)
    def repeat_in_another_order(self, previous: dict[str, Any]) -> None:
        again = {
            **previous,
            "tasks": previous["tasks"][::-1],
            "paths": previous["paths"][::-1],
        }
        result = self.push_as_agent(again)
        assert result.folded
        self.expect(again, result)

    @rule(summary=st.sampled_from(["tests are flaky", "freeze"]))
    def human_push(self, summary: str) -> None:
        result = services.push_delta(
            project=self.project, actor=self.human, kind=DeltaKind.DECISION, summary=summary
        )
        assert not result.folded
        self.head += 1
        assert result.delta.seq == self.head

    def expect(self, push: dict[str, Any], result: services.PushResult) -> None:
        key = self.fold_key(push)
        if key in self.seq_of:
            seq = self.seq_of[key]
            self.folds[seq] = self.folds.get(seq, 0) + 1
            assert result.folded
            assert (result.delta.seq, result.delta.folded) == (seq, self.folds[seq])
        else:
            self.head += 1
            self.seq_of[key] = self.head
            assert not result.folded
            assert result.delta.seq == self.head

    @rule(who=st.integers(0, 2), data=st.data())
    def ack(self, who: int, data: st.DataObject) -> None:
        agent = self.agents[who]
        seq = data.draw(st.integers(0, self.head + 2), label="seq")
        if seq > self.head:
            with pytest.raises(ValidationFailed, match="newest delta"):
                services.ack_updates(agent=agent, seq=seq)
        else:
            self.cursors[agent.pk] = max(self.cursors[agent.pk], seq)
            assert services.ack_updates(agent=agent, seq=seq).acked_seq == self.cursors[agent.pk]
        assert all(delta.seq > self.cursors[agent.pk] for delta in selectors.drift_of(agent))

    @invariant()
    def seqs_are_exactly_1_to_head(self) -> None:
        stored = Delta.objects.filter(project=self.project).order_by("seq")
        assert list(stored.values_list("seq", flat=True)) == list(range(1, self.head + 1))
        assert selectors.head_of(self.project) == self.head
        assert {d.seq: d.folded for d in stored if d.folded} == self.folds
        assert len(events_of(self.project, "delta.pushed")) == self.head
        assert len(events_of(self.project, "delta.folded")) == sum(self.folds.values())

    @invariant()
    def cursors_only_move_forward_and_never_pass_the_head(self) -> None:
        for agent in self.agents:
            cursor = selectors.cursor_of(agent)
            assert self.seen_cursors[agent.pk] <= cursor <= self.head
            assert cursor == self.cursors[agent.pk]
            self.seen_cursors[agent.pk] = cursor


def test_random_interleavings_of_pushes_folds_and_acks_keep_the_stream_consistent() -> None:
    run_state_machine_as_test(
        DeltaStreamMachine,
        settings=hypothesis_settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
