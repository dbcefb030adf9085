from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from peercode.actors import Actor
from peercode.errors import Conflict, PermissionDenied, ValidationFailed
from peercode.events.models import Event
from projects import services
from projects.models import ContractVersion, Task, TaskStatus
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_task

pytestmark = pytest.mark.django_db


def events_of(project, type_: str) -> list[Event]:
    return list(Event.objects.filter(project=project, type=type_).order_by("created_at"))


class TestDependencies:
    def test_task_without_dependencies_starts_ready_and_with_unfinished_ones_in_backlog(self):
        project = make_project()
        first = make_task(project, "P1-T1")
        second = make_task(project, "P1-T2", depends_on=["P1-T1"])
        assert first.status == TaskStatus.READY
        assert second.status == TaskStatus.BACKLOG

    def test_dependency_that_closes_a_cycle_is_refused_with_the_cycle_named(self):
        project = make_project()
        make_task(project, "A")
        make_task(project, "B", depends_on=["A"])
        make_task(project, "C", depends_on=["B"])
        task_a = Task.objects.get(project=project, key="A")
        with pytest.raises(ValidationFailed) as excinfo:
            services.update_task(task=task_a, depends_on=["C"], actor=SYSTEM)
        assert "A → C → B → A" in excinfo.value.message
        assert excinfo.value.details["cycle"] == ["A", "C", "B", "A"]
        assert list(task_a.depends_on.all()) == []

    def test_self_dependency_is_refused(self):
        project = make_project()
        task = make_task(project, "A")
        with pytest.raises(ValidationFailed, match="cannot depend on itself"):
            services.update_task(task=task, depends_on=["A"], actor=SYSTEM)

    def test_unknown_dependency_key_is_refused_and_nothing_is_written(self):
        project = make_project()
        make_task(project, "A")
        before = Event.objects.count()
        with pytest.raises(ValidationFailed, match="Unknown task key"):
            make_task(project, "B", depends_on=["A", "NOPE"])
        assert not Task.objects.filter(key="B").exists()
        assert Event.objects.count() == before

    def test_finishing_the_last_dependency_makes_dependents_ready(self):
        project = make_project()
        agent, _ = make_agent(project)
        make_task(project, "A")
        make_task(project, "B", depends_on=["A"])
        task = services.claim_task(agent=agent, task_key="A")
        for status in ("review", "done"):
            task = services.change_task_status(task=task, status=status, actor=SYSTEM)
        assert Task.objects.get(key="B").status == TaskStatus.READY
        promoted = [e for e in events_of(project, "task.status_changed") if e.subject == "task:B"]
        assert promoted
        assert promoted[0].payload["to"] == "ready"


class TestStatusTransitions:
    @pytest.mark.parametrize(
        ("path", "illegal"),
        [
            ((), "done"),
            ((), "backlog"),
            (("review",), "ready"),
            (("review", "done"), "in_progress"),
        ],
    )
    def test_illegal_transition_is_refused_and_names_the_legal_ones(self, path, illegal):
        project = make_project()
        agent, _ = make_agent(project)
        make_task(project, "A")
        task = services.claim_task(agent=agent, task_key="A")
        for status in path:
            task = services.change_task_status(task=task, status=status, actor=SYSTEM)
        before = task.status
        with pytest.raises(Conflict) as excinfo:
            services.change_task_status(task=task, status=illegal, actor=SYSTEM)
        assert excinfo.value.code == "illegal_transition"
        assert f"cannot go from {before} to {illegal}" in excinfo.value.message
        task.refresh_from_db()
        assert task.status == before

    def test_task_cannot_be_ready_while_a_dependency_is_unfinished(self):
        project = make_project()
        make_task(project, "A")
        task = make_task(project, "B", depends_on=["A"])
        with pytest.raises(Conflict, match="while A is not done"):
            services.change_task_status(task=task, status="ready", actor=SYSTEM)

    def test_unknown_status_is_refused(self):
        project = make_project()
        task = make_task(project, "A")
        with pytest.raises(ValidationFailed, match="Unknown status 'finished'"):
            services.change_task_status(task=task, status="finished", actor=SYSTEM)

    def test_agent_cannot_move_a_task_assigned_to_someone_else(self):
        project = make_project()
        alice, _ = make_agent(project, "alice")
        bob, _ = make_agent(project, "bob")
        make_task(project, "A")
        task = services.claim_task(agent=alice, task_key="A")
        with pytest.raises(PermissionDenied):
            services.change_task_status(task=task, status="review", actor=Actor.for_agent(bob))

    def test_releasing_a_task_back_to_ready_clears_the_assignee(self):
        project = make_project()
        agent, _ = make_agent(project)
        make_task(project, "A")
        task = services.claim_task(agent=agent, task_key="A")
        task = services.change_task_status(task=task, status="ready", actor=Actor.for_agent(agent))
        assert task.assignee is None


class TestClaim:
    def test_claim_assigns_the_task_and_records_the_event(self):
        project = make_project()
        agent, _ = make_agent(project, "alice")
        make_task(project, "A")
        task = services.claim_task(agent=agent, task_key="A")
        assert task.status == TaskStatus.IN_PROGRESS
        assert task.assignee == agent
        (event,) = events_of(project, "task.claimed")
        assert event.actor == "agent:alice"
        assert event.subject == "task:A"

    def test_second_claim_of_a_taken_task_names_the_holder(self):
        project = make_project()
        alice, _ = make_agent(project, "alice")
        bob, _ = make_agent(project, "bob")
        make_task(project, "A")
        services.claim_task(agent=alice, task_key="A")
        with pytest.raises(Conflict, match="assigned to alice"):
            services.claim_task(agent=bob, task_key="A")

    def test_backlog_task_cannot_be_claimed_and_the_refusal_names_what_it_waits_for(self):
        project = make_project()
        agent, _ = make_agent(project)
        make_task(project, "A")
        make_task(project, "B", depends_on=["A"])
        with pytest.raises(Conflict, match="waiting for A"):
            services.claim_task(agent=agent, task_key="B")

    def test_an_agent_cannot_claim_another_projects_task(self):
        mine, theirs = make_project(), make_project()
        agent, _ = make_agent(mine)
        make_task(theirs, "X")
        with pytest.raises(Exception, match="No task 'X'"):
            services.claim_task(agent=agent, task_key="X")
        assert Task.objects.get(project=theirs, key="X").assignee is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_claims_have_exactly_one_winner(round_):
    project = make_project()
    agents = [make_agent(project, f"agent-{i}")[0] for i in range(8)]
    make_task(project, "HOT")
    barrier = threading.Barrier(len(agents))
    winners: list[str] = []
    losers: list[str] = []
    errors: list[BaseException] = []

    def claim(agent):
        try:
            barrier.wait()
            services.claim_task(agent=agent, task_key="HOT")
            winners.append(agent.name)
        except Conflict:
            losers.append(agent.name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(winners) == 1
    assert len(losers) == len(agents) - 1
    task = Task.objects.get(project=project, key="HOT")
    assert task.assignee.name == winners[0]
    assert Event.objects.filter(project=project, type="task.claimed").count() == 1


class TestContracts:
    def test_versions_are_numbered_and_immutable(self):
        project = make_project()
        make_task(project, "A")
        contract = make_contract(project, "AuthAPI", owner="A", spec="POST /login")
        v2 = services.publish_contract_version(
            contract=contract, spec="POST /v2/login", rationale="versioned path", actor=SYSTEM
        )
        assert [v.number for v in contract.versions.order_by("number")] == [1, 2]
        assert v2.author == "tests"
        v2.spec = "tampered"
        with pytest.raises(RuntimeError, match="immutable"):
            v2.save()
        assert ContractVersion.objects.get(pk=v2.pk).spec == "POST /v2/login"

    def test_empty_spec_is_refused(self):
        project = make_project()
        contract = make_contract(project, "AuthAPI", spec=None)
        with pytest.raises(ValidationFailed, match="cannot be empty"):
            services.publish_contract_version(contract=contract, spec="  ", actor=SYSTEM)


class TestEventsShareTheTransaction:
    def test_a_failing_service_leaves_no_event(self):
        project = make_project()
        make_task(project, "A")
        before = Event.objects.count()
        with pytest.raises(Conflict):
            make_task(project, "A")  # duplicate key, refused inside the transaction
        assert Event.objects.count() == before

    def test_a_rolled_back_change_takes_its_event_with_it(self):
        project = make_project()
        before = Event.objects.count()
        with pytest.raises(RuntimeError), transaction.atomic():
            make_task(project, "A")
            assert Event.objects.count() > before
            raise RuntimeError("the caller's outer transaction fails")
        assert Event.objects.count() == before
        assert not Task.objects.filter(project=project, key="A").exists()

    @pytest.mark.django_db(transaction=True)
    def test_record_event_refuses_to_run_outside_a_transaction(self):
        from peercode.events.services import record_event

        with pytest.raises(RuntimeError, match="inside the transaction"):
            record_event(project=None, type="x", actor=SYSTEM)


class TestDeleteProject:
    def test_agents_cannot_delete_projects(self):
        project = make_project()
        agent, _ = make_agent(project)
        with pytest.raises(PermissionDenied, match="Agents cannot delete the project"):
            services.delete_project(project=project, actor=Actor.for_agent(agent))
        assert type(project).objects.filter(pk=project.pk).exists()

    def test_deleting_a_project_keeps_its_audit_trail(self):
        project = make_project(slug="gone")
        make_task(project, "A")
        project_id = project.pk
        services.delete_project(project=project, actor=SYSTEM)
        assert not Task.objects.filter(project_id=project_id).exists()
        deleted = Event.objects.get(project_id=project_id, type="project.deleted")
        assert deleted.payload["tasks"] == 1
        assert Event.objects.filter(project_id=project_id, type="task.added").exists()


class TestProjectDefaults:
    def test_new_projects_take_the_servers_configured_defaults(self, settings) -> None:
        settings.PEERCODE_INTEGRATION_BRANCH = "integration"
        settings.PEERCODE_DEFAULT_LOCK_TTL_SECONDS = 120
        settings.PEERCODE_MAX_DEBATE_ROUNDS = 3
        project = make_project()
        assert project.integration_branch == "integration"
        assert project.default_lock_ttl_seconds == 120
        assert project.max_debate_rounds == 3

    def test_what_the_caller_gives_wins_over_the_defaults(self, settings) -> None:
        settings.PEERCODE_INTEGRATION_BRANCH = "integration"
        project = services.create_project(
            slug="given", name="Given", actor=SYSTEM, integration_branch="main"
        )
        assert project.integration_branch == "main"
