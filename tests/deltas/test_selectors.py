from __future__ import annotations

import pytest

from deltas import selectors, services
from deltas.models import Delta, DeltaKind, Significance
from peercode.actors import Actor
from projects.models import Agent, Project
from projects.services import claim_task
from tests.deltas.factories import agent_on, finish, push
from tests.factories import make_agent, make_contract, make_project, make_task, make_user

pytestmark = pytest.mark.django_db


def seqs(deltas: list[Delta]) -> list[int]:
    return [delta.seq for delta in deltas]


def concerns(delta: Delta, agent: Agent) -> bool:
    return selectors.concerns(delta, selectors.interest_of(agent))


@pytest.fixture
def project() -> Project:
    return make_project()


@pytest.fixture
def other(project: Project) -> Agent:
    """An agent with no task, pushing the deltas the others may or may not care about."""
    agent, _ = make_agent(project, "pusher")
    return agent


class TestRelevance:
    def test_a_delta_touching_the_agents_own_task_concerns_it(
        self, project: Project, other: Agent
    ) -> None:
        agent, _ = agent_on(project, "A")
        make_task(project, "Z")
        mine = push(project, other, tasks=["A"]).delta
        unrelated = push(project, other, tasks=["Z"]).delta
        assert concerns(mine, agent)
        assert not concerns(unrelated, agent)

    def test_a_delta_touching_a_task_the_agents_task_depends_on_concerns_it(
        self, project: Project, other: Agent
    ) -> None:
        _, upstream = agent_on(project, "A")
        finish(upstream)
        agent, _ = agent_on(project, "B", depends_on=["A"])
        delta = push(project, other, tasks=["A"]).delta
        assert concerns(delta, agent)

    def test_a_delta_touching_a_task_that_depends_on_the_agents_task_concerns_it(
        self, project: Project, other: Agent
    ) -> None:
        agent, _ = agent_on(project, "A")
        make_task(project, "B", depends_on=["A"])
        make_task(project, "C", depends_on=["B"])
        direct = push(project, other, tasks=["B"]).delta
        transitive = push(project, other, tasks=["C"]).delta
        assert concerns(direct, agent)
        assert not concerns(transitive, agent)  # only direct neighbours in the DAG

    def test_a_delta_touching_a_contract_the_agents_task_provides_concerns_it(
        self, project: Project, other: Agent
    ) -> None:
        agent, _ = agent_on(project, "A")
        make_contract(project, "AuthAPI", owner="A")
        make_contract(project, "BillingAPI")
        provided = push(project, other, contracts=["AuthAPI"]).delta
        unrelated = push(project, other, contracts=["BillingAPI"]).delta
        assert concerns(provided, agent)
        assert not concerns(unrelated, agent)

    def test_a_delta_touching_a_contract_the_agents_task_consumes_concerns_it(
        self, project: Project, other: Agent
    ) -> None:
        make_contract(project, "AuthAPI")
        agent, _ = agent_on(project, "C", consumes=["AuthAPI"])
        delta = push(project, other, contracts=["AuthAPI"]).delta
        assert concerns(delta, agent)

    def test_a_delta_touching_a_path_matching_the_agents_globs_concerns_it(
        self, project: Project, other: Agent
    ) -> None:
        agent, _ = agent_on(project, "A", file_globs=["src/api/**", "*.toml"])
        inside = push(project, other, paths=["src/api/login.py"]).delta
        overlapping_glob = push(project, other, paths=["src/**/*.py"]).delta
        top_level = push(project, other, paths=["pyproject.toml"]).delta
        outside = push(project, other, paths=["docs/api/index.md", "src/web/app.ts"]).delta
        assert concerns(inside, agent)
        assert concerns(overlapping_glob, agent)
        assert concerns(top_level, agent)
        assert not concerns(outside, agent)

    def test_a_breaking_delta_concerns_everyone_even_without_a_task(
        self, project: Project, other: Agent
    ) -> None:
        idle, _ = make_agent(project, "idle")
        make_task(project, "Z")
        delta = push(project, other, tasks=["Z"], significance=Significance.BREAKING).delta
        assert concerns(delta, idle)

    def test_an_agents_own_deltas_never_concern_it(self, project: Project) -> None:
        agent, _ = agent_on(project, "A", file_globs=["src/**"])
        delta = push(
            project,
            agent,
            tasks=["A"],
            paths=["src/x.py"],
            significance=Significance.BREAKING,
        ).delta
        assert not concerns(delta, agent)
        assert selectors.drift_of(agent) == []

    def test_a_finished_task_no_longer_makes_deltas_relevant(
        self, project: Project, other: Agent
    ) -> None:
        agent, task = agent_on(project, "A", file_globs=["src/**"])
        finish(task)
        delta = push(project, other, tasks=["A"], paths=["src/x.py"]).delta
        assert not concerns(delta, agent)

    def test_a_delta_with_no_task_contract_or_path_concerns_nobody_unless_breaking(
        self, project: Project, other: Agent
    ) -> None:
        agent, _ = agent_on(project, "A", file_globs=["**"])
        quiet = push(project, other).delta
        loud = push(project, other, significance=Significance.BREAKING).delta
        assert not concerns(quiet, agent)
        assert concerns(loud, agent)

    def test_a_delta_with_more_paths_than_one_check_may_match_counts_as_relevant(
        self, project: Project, other: Agent
    ) -> None:
        # The check runs on the WebSocket consumer's event loop for every live delta and
        # subscriber, so it stops after MAX_RELEVANCE_WORK and errs towards telling.
        globs = [f"src/module{index}/**/*.py" for index in range(12)]
        agent, _ = agent_on(project, "A", file_globs=globs)
        paths = [f"docs/chapter{index}/page{index}.md" for index in range(1000)]
        many = Delta(kind=DeltaKind.DECISION, paths=paths, author_id=other.pk)
        few = Delta(kind=DeltaKind.DECISION, paths=paths[:5], author_id=other.pk)
        assert concerns(many, agent)
        assert not concerns(few, agent)

    def test_an_agents_globs_are_matched_once_however_many_of_its_tasks_share_them(
        self, project: Project
    ) -> None:
        agent, _ = agent_on(project, "A", file_globs=["src/**", "docs/**"])
        make_task(project, "B", file_globs=["docs/**", "web/**"])
        claim_task(agent=agent, task_key="B")
        assert selectors.interest_of(agent).globs == ["src/**", "docs/**", "web/**"]


class TestDrift:
    def test_drift_is_the_relevant_unacknowledged_deltas_oldest_first(
        self, project: Project, other: Agent
    ) -> None:
        agent, _ = agent_on(project, "A")
        make_task(project, "Z")
        first = push(project, other, tasks=["A"]).delta
        push(project, other, tasks=["Z"])
        third = push(project, other, significance=Significance.BREAKING).delta
        assert seqs(selectors.drift_of(agent)) == [first.seq, third.seq]

    def test_drift_shrinks_as_the_agent_acknowledges(self, project: Project, other: Agent) -> None:
        agent, _ = agent_on(project, "A")
        deltas = [push(project, other, tasks=["A"]).delta for _ in range(3)]
        services.ack_updates(agent=agent, seq=deltas[0].seq)
        assert seqs(selectors.drift_of(agent)) == [deltas[1].seq, deltas[2].seq]
        services.ack_updates(agent=agent, seq=deltas[2].seq)
        assert selectors.drift_of(agent) == []

    def test_deltas_pushed_after_an_acknowledgement_make_new_drift(
        self, project: Project, other: Agent
    ) -> None:
        agent, _ = agent_on(project, "A")
        services.ack_updates(agent=agent, seq=push(project, other, tasks=["A"]).delta.seq)
        later = push(project, other, tasks=["A"]).delta
        assert seqs(selectors.drift_of(agent)) == [later.seq]

    def test_drift_is_per_project(self, project: Project, other: Agent) -> None:
        agent, _ = agent_on(project, "A")
        elsewhere = make_project()
        stranger, _ = make_agent(elsewhere)
        push(elsewhere, stranger, significance=Significance.BREAKING)
        assert selectors.drift_of(agent) == []


class TestHeadAndCursor:
    def test_a_project_without_deltas_has_head_zero_and_agents_cursor_zero(
        self, project: Project, other: Agent
    ) -> None:
        assert selectors.head_of(project) == 0
        assert selectors.cursor_of(other) == 0

    def test_head_is_the_last_seq_and_cursor_the_last_acknowledged_one(
        self, project: Project, other: Agent
    ) -> None:
        agent, _ = make_agent(project)
        for _ in range(3):
            push(project, other)
        services.ack_updates(agent=agent, seq=2)
        assert selectors.head_of(project) == 3
        assert selectors.cursor_of(agent) == 2


class TestFeed:
    def test_feed_is_in_seq_order_after_since_and_up_to_until(
        self, project: Project, other: Agent
    ) -> None:
        for _ in range(5):
            push(project, other)
        assert seqs(list(selectors.feed(project))) == [1, 2, 3, 4, 5]
        assert seqs(list(selectors.feed(project, since=2))) == [3, 4, 5]
        assert seqs(list(selectors.feed(project, since=1, until=3))) == [2, 3]

    def test_feed_filters_by_kind_significance_and_author(
        self, project: Project, other: Agent
    ) -> None:
        second, _ = make_agent(project, "second")
        push(project, other, kind=DeltaKind.DECISION)
        push(project, second, kind=DeltaKind.BLOCKER, significance=Significance.BREAKING)
        push(project, other, kind=DeltaKind.BLOCKER)
        assert seqs(list(selectors.feed(project, kind=DeltaKind.BLOCKER))) == [2, 3]
        assert seqs(list(selectors.feed(project, significance=Significance.BREAKING))) == [2]
        assert seqs(list(selectors.feed(project, author="second"))) == [2]
        assert seqs(list(selectors.feed(project, author="pusher"))) == [1, 3]

    def test_feed_holds_only_the_projects_own_deltas(self, project: Project, other: Agent) -> None:
        elsewhere = make_project()
        stranger, _ = make_agent(elsewhere)
        push(elsewhere, stranger)
        push(project, other)
        assert [d.project_id for d in selectors.feed(project)] == [project.pk]


class TestWireShape:
    def test_as_dict_carries_every_field_of_the_delta(self, project: Project, other: Agent) -> None:
        make_task(project, "A")
        make_contract(project, "AuthAPI")
        delta = push(
            project,
            other,
            kind=DeltaKind.DECISION,
            summary="Use JWT",
            body="Because *reasons*.",
            tasks=["A"],
            contracts=["AuthAPI"],
            paths=["src/auth/**"],
        ).delta
        shape = selectors.as_dict(delta)
        assert shape == {
            "seq": 1,
            "kind": "decision",
            "significance": "normal",
            "summary": "Use JWT",
            "body": "Because *reasons*.",
            "author": "agent:pusher",
            "tasks": ["A"],
            "contracts": ["AuthAPI"],
            "paths": ["src/auth/**"],
            "agents": [],
            "contract_version": None,
            "proposed_spec": None,
            "folded": 0,
            "created_at": delta.created_at.isoformat(),
        }

    def test_with_an_interest_as_dict_says_whether_it_is_relevant_and_breaking(
        self, project: Project, other: Agent
    ) -> None:
        agent, _ = agent_on(project, "A")
        make_task(project, "Z")
        relevant = push(project, other, tasks=["A"]).delta
        breaking = push(project, other, significance=Significance.BREAKING).delta
        unrelated = push(project, other, tasks=["Z"]).delta
        interest = selectors.interest_of(agent)
        for delta, relevant_flag, breaking_flag in [
            (relevant, True, False),
            (breaking, True, True),
            (unrelated, False, False),
        ]:
            shape = selectors.as_dict(delta, interest)
            assert (shape["relevant"], shape["breaking_for_you"]) == (relevant_flag, breaking_flag)


class TestContractChangesAsSeenByConsumers:
    @pytest.fixture
    def plan(self, project: Project) -> dict[str, Agent]:
        owner, _ = agent_on(project, "PROVIDE")
        make_contract(project, "AuthAPI", owner="PROVIDE", spec="POST /login")
        make_contract(project, "BillingAPI", spec="GET /invoices")
        consumer, _ = agent_on(project, "USE", consumes=["AuthAPI"])
        bystander, _ = agent_on(project, "ELSE", consumes=["BillingAPI"])
        return {"owner": owner, "consumer": consumer, "bystander": bystander}

    def test_a_new_version_is_breaking_for_consumers_only(
        self, project: Project, plan: dict[str, Agent]
    ) -> None:
        delta = push(
            project,
            plan["owner"],
            kind=DeltaKind.CONTRACT_CHANGE,
            contracts=["AuthAPI"],
            spec="POST /v2/login",
        ).delta
        for_consumer = selectors.as_dict(delta, selectors.interest_of(plan["consumer"]))
        for_bystander = selectors.as_dict(delta, selectors.interest_of(plan["bystander"]))
        assert for_consumer["contract_version"] == 2
        assert for_consumer["relevant"] is True
        assert for_consumer["breaking_for_you"] is True
        assert for_bystander["relevant"] is False
        assert for_bystander["breaking_for_you"] is False

    def test_a_proposal_is_relevant_to_consumers_but_not_breaking(
        self, project: Project, plan: dict[str, Agent]
    ) -> None:
        delta = push(
            project,
            plan["bystander"],
            kind=DeltaKind.CONTRACT_CHANGE,
            contracts=["AuthAPI"],
            spec="POST /v2/login",
        ).delta
        shape = selectors.as_dict(delta, selectors.interest_of(plan["consumer"]))
        assert shape["proposed_spec"] == "POST /v2/login"
        assert shape["contract_version"] is None
        assert shape["relevant"] is True
        assert shape["breaking_for_you"] is False
        assert selectors.unacknowledged_breaking_contract_changes(plan["consumer"]) == []

    def test_unacknowledged_breaking_changes_list_new_versions_until_acknowledged(
        self, project: Project, plan: dict[str, Agent]
    ) -> None:
        change = push(
            project,
            plan["owner"],
            kind=DeltaKind.CONTRACT_CHANGE,
            contracts=["AuthAPI"],
            spec="POST /v2/login",
        ).delta
        assert seqs(selectors.unacknowledged_breaking_contract_changes(plan["consumer"])) == [
            change.seq
        ]
        assert selectors.unacknowledged_breaking_contract_changes(plan["owner"]) == []
        assert selectors.unacknowledged_breaking_contract_changes(plan["bystander"]) == []
        services.ack_updates(agent=plan["consumer"], seq=change.seq)
        assert selectors.unacknowledged_breaking_contract_changes(plan["consumer"]) == []

    def test_a_version_published_by_a_human_is_breaking_for_consumers(
        self, project: Project, plan: dict[str, Agent]
    ) -> None:
        human = Actor.for_user(make_user())
        delta = push(
            project,
            human,
            kind=DeltaKind.CONTRACT_CHANGE,
            contracts=["AuthAPI"],
            spec="POST /v2/login",
        ).delta
        assert delta.author is None
        assert delta.author_label == human.label
        pending = selectors.unacknowledged_breaking_contract_changes(plan["consumer"])
        assert seqs(pending) == [delta.seq]


class TestAcknowledgementOverview:
    def test_each_agent_shows_its_cursor_how_far_behind_it_is_and_what_it_pushed(
        self, project: Project
    ) -> None:
        ann, _ = make_agent(project, "ann")
        bob, _ = make_agent(project, "bob")
        for _ in range(3):
            push(project, ann)
        push(project, bob)
        services.ack_updates(agent=bob, seq=3)
        assert selectors.acknowledgement_of(project) == [
            {"agent": "ann", "acked_seq": 0, "behind": 4, "pushed": 3, "acknowledged_share": 0.0},
            {"agent": "bob", "acked_seq": 3, "behind": 1, "pushed": 1, "acknowledged_share": 0.75},
        ]

    def test_with_no_deltas_everyone_is_fully_acknowledged(self, project: Project) -> None:
        make_agent(project, "ann")
        assert selectors.acknowledgement_of(project) == [
            {"agent": "ann", "acked_seq": 0, "behind": 0, "pushed": 0, "acknowledged_share": 1.0}
        ]
