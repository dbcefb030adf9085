from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from peercode.auth import authenticate_agent_token
from peercode.events.models import Event
from projects.models import (
    Agent,
    Contract,
    ContractVersion,
    DecompositionRun,
    Phase,
    Project,
    Task,
    TaskStatus,
)
from tests.factories import (
    make_agent,
    make_contract,
    make_phase,
    make_project,
    make_task,
    make_user,
)

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"pc_[A-Za-z0-9_-]{20,}")


@pytest.fixture
def user():
    return make_user(username="ada")


@pytest.fixture
def client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def plan() -> dict[str, Any]:
    project = make_project(slug="shop")
    agent, _ = make_agent(project, "claude-backend")
    make_task(project, "P1-T1")
    make_task(project, "P1-T2", depends_on=["P1-T1"])
    contract = make_contract(project, "AuthAPI", owner="P1-T1")
    # No service writes planning runs yet outside the decomposition flow, which calls the API.
    run = DecompositionRun.objects.create(
        project=project, requested_by="user:ada", model="claude-test", description="A shop"
    )
    return {
        "project": project,
        "agent": agent,
        "phase": project.phases.get(number=1),
        "task": Task.objects.get(project=project, key="P1-T1"),
        "contract": contract,
        "version": contract.versions.get(number=1),
        "run": run,
        "event": Event.objects.filter(project=project).first(),
    }


def admin_url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_data(response) -> dict[str, Any]:
    """What the browser would post back for the admin form on ``response``, unchanged."""
    data: dict[str, Any] = {}

    def add(form) -> None:
        for name in form.fields:
            value = form[name].value()
            if isinstance(value, list | tuple):
                data[form.add_prefix(name)] = [str(item) for item in value]
            else:
                data[form.add_prefix(name)] = "" if value is None else value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def events_of(type_: str) -> list[Event]:
    return list(Event.objects.filter(type=type_).order_by("created_at"))


class TestEveryPageRenders:
    @pytest.mark.parametrize(
        ("model", "key"),
        [
            (Project, "project"),
            (Agent, "agent"),
            (Phase, "phase"),
            (Task, "task"),
            (Contract, "contract"),
            (ContractVersion, "version"),
            (DecompositionRun, "run"),
            (Event, "event"),
        ],
    )
    def test_changelist_and_change_page_render(self, client, plan, model, key):
        assert client.get(admin_url(model, "changelist")).status_code == 200
        assert client.get(admin_url(model, "change", plan[key].pk)).status_code == 200

    @pytest.mark.parametrize("model", [Project, Agent, Phase, Task, Contract])
    def test_add_page_renders_for_plan_objects(self, client, plan, model):
        assert client.get(admin_url(model, "add")).status_code == 200

    @pytest.mark.parametrize("model", [ContractVersion, DecompositionRun, Event])
    def test_history_cannot_be_added_changed_or_deleted(self, client, plan, model):
        obj = model.objects.first()
        assert client.get(admin_url(model, "add")).status_code == 403
        assert client.post(admin_url(model, "change", obj.pk), {}).status_code == 403
        assert client.get(admin_url(model, "delete", obj.pk)).status_code == 403
        assert client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=obj.pk).exists()

    def test_index_lists_every_model(self, client, plan):
        content = client.get(reverse("admin:index")).content.decode()
        for model in (Project, Agent, Phase, Task, Contract, ContractVersion, Event):
            assert admin_url(model, "changelist") in content


class TestSearchAndFilters:
    def results(self, client, model: type, query: str = "") -> list[Any]:
        response = client.get(admin_url(model, "changelist") + query)
        assert response.status_code == 200
        return list(response.context["cl"].result_list)

    def test_tasks_are_found_by_key_and_by_title(self, client, plan):
        make_task(make_project(slug="other"), "X-9")
        assert [t.key for t in self.results(client, Task, "?q=P1-T2")] == ["P1-T2"]
        assert [t.key for t in self.results(client, Task, "?q=Task+X-9")] == ["X-9"]

    def test_tasks_filter_by_project_status_and_phase(self, client, plan):
        other = make_project(slug="other")
        make_task(other, "X-1")
        project = plan["project"]
        by_project = self.results(client, Task, f"?project__id__exact={project.pk}")
        assert {t.key for t in by_project} == {"P1-T1", "P1-T2"}
        ready = self.results(client, Task, f"?status__exact={TaskStatus.BACKLOG}")
        assert [t.key for t in ready] == ["P1-T2"]
        in_phase = self.results(client, Task, f"?phase={plan['phase'].pk}")
        assert {t.key for t in in_phase} == {"P1-T1", "P1-T2"}

    def test_phase_filter_names_each_phase_with_its_project(self, client, plan):
        make_phase(make_project(slug="other"), 1, "Setup")
        response = client.get(admin_url(Task, "changelist"))
        content = response.content.decode()
        assert "shop · Phase 1: Phase 1" in content
        assert "other · Phase 1: Setup" in content

    def test_agents_filter_by_activity(self, client, plan):
        idle, _ = make_agent(plan["project"], "idle")
        client.post(
            admin_url(Agent, "changelist"),
            {"action": "revoke_agents", "_selected_action": [idle.pk]},
        )
        inactive = self.results(client, Agent, "?is_active__exact=0")
        assert [a.name for a in inactive] == ["idle"]

    def test_events_filter_by_type_and_search_by_subject_and_actor(self, client, plan):
        added = self.results(client, Event, "?type=task.added")
        assert {e.subject for e in added} == {"task:P1-T1", "task:P1-T2"}
        assert {e.subject for e in self.results(client, Event, "?q=contract:AuthAPI")} == {
            "contract:AuthAPI"
        }
        assert len(self.results(client, Event, "?q=tests")) == Event.objects.count()
        assert self.results(client, Event, "?q=nobody-did-this") == []

    def test_contracts_filter_by_kind(self, client, plan):
        assert [c.name for c in self.results(client, Contract, "?kind__exact=api")] == ["AuthAPI"]
        assert self.results(client, Contract, "?kind__exact=schema") == []


class TestEventLog:
    def test_change_page_is_view_only_with_a_pretty_payload(self, client, plan):
        event = Event.objects.get(type="task.added", subject="task:P1-T2")
        content = client.get(admin_url(Event, "change", event.pk)).content.decode()
        assert 'name="_save"' not in content
        assert admin_url(Event, "delete", event.pk) not in content
        assert "<pre" in content
        assert "&quot;depends_on&quot;: [\n" in content

    def test_changelist_offers_no_add_button_and_no_actions(self, client, plan):
        content = client.get(admin_url(Event, "changelist")).content.decode()
        assert admin_url(Event, "add") not in content
        assert 'name="action"' not in content

    def test_events_of_a_deleted_project_stay_readable(self, client, plan):
        project = plan["project"]
        client.post(admin_url(Project, "delete", project.pk), {"post": "yes"})
        event = Event.objects.get(type="project.deleted")
        listing = client.get(admin_url(Event, "changelist"))
        assert listing.status_code == 200
        assert f"deleted project #{project.pk}" in listing.content.decode()
        assert client.get(admin_url(Event, "change", event.pk)).status_code == 200


class TestAgentAdmin:
    def test_adding_an_agent_shows_its_token_once_and_records_the_event(self, client, plan):
        project = plan["project"]
        response = client.post(
            admin_url(Agent, "add"),
            {"project": project.pk, "name": "cursor-ui", "client_kind": "cursor"},
            follow=True,
        )
        assert response.status_code == 200
        shown = html.unescape(" ".join(messages_of(response)))
        assert "shown this once" in shown
        token = TOKEN_RE.search(shown).group(0)
        agent = authenticate_agent_token(token)
        assert agent is not None
        assert agent.name == "cursor-ui"
        assert agent.token_hash not in response.content.decode()
        assert f'"Authorization": "Bearer {token}"' in shown
        event = events_of("agent.created")[-1]
        assert event.subject == "agent:cursor-ui"
        assert event.actor == "user:ada"
        again = client.get(admin_url(Agent, "change", agent.pk)).content.decode()
        assert token not in again
        assert agent.token_hash not in again
        assert agent.token_prefix in again

    def test_duplicate_agent_name_is_refused_on_the_form(self, client, plan):
        before = Event.objects.count()
        response = client.post(
            admin_url(Agent, "add"),
            {"project": plan["project"].pk, "name": "claude-backend", "client_kind": "other"},
        )
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
        assert Agent.objects.filter(name="claude-backend").count() == 1
        assert Event.objects.count() == before

    def test_rotate_action_replaces_the_token_and_shows_the_new_one_once(self, client, plan):
        project = plan["project"]
        agent, old_token = make_agent(project, "rotating")
        response = client.post(
            admin_url(Agent, "changelist"),
            {"action": "rotate_tokens", "_selected_action": [agent.pk]},
            follow=True,
        )
        shown = html.unescape(" ".join(messages_of(response)))
        new_token = TOKEN_RE.search(shown).group(0)
        assert new_token != old_token
        assert "claude mcp add --transport http peercode" in shown
        assert authenticate_agent_token(old_token) is None
        assert authenticate_agent_token(new_token).pk == agent.pk
        assert events_of("agent.token_rotated")[-1].actor == "user:ada"

    def test_revoke_action_stops_the_token(self, client, plan):
        agent, token = make_agent(plan["project"], "leaving")
        client.post(
            admin_url(Agent, "changelist"),
            {"action": "revoke_agents", "_selected_action": [agent.pk]},
        )
        assert authenticate_agent_token(token) is None
        assert events_of("agent.deactivated")[-1].subject == "agent:leaving"

    def test_agents_cannot_be_edited_or_deleted_directly(self, client, plan):
        agent = plan["agent"]
        assert client.post(admin_url(Agent, "change", agent.pk), {}).status_code == 403
        assert client.post(admin_url(Agent, "delete", agent.pk), {"post": "yes"}).status_code == 403

    def test_staff_who_may_only_view_agents_cannot_rotate_tokens(self, plan):
        viewer = make_user(username="viewer", staff=False)
        viewer.is_staff = True
        viewer.save()
        viewer.user_permissions.add(Permission.objects.get(codename="view_agent"))
        client = Client()
        client.force_login(viewer)
        agent = plan["agent"]
        before = agent.token_hash
        client.post(
            admin_url(Agent, "changelist"),
            {"action": "rotate_tokens", "_selected_action": [agent.pk]},
        )
        agent.refresh_from_db()
        assert agent.token_hash == before
        assert not events_of("agent.token_rotated")


class TestTaskAdmin:
    def change_page(self, client, task: Task):
        response = client.get(admin_url(Task, "change", task.pk))
        assert response.status_code == 200
        return response

    def test_illegal_status_change_is_refused_with_the_service_message(self, client, plan):
        task = plan["task"]
        data = form_data(self.change_page(client, task))
        data.update({"title": "Renamed while moving", "move_to": TaskStatus.DONE})
        before = Event.objects.count()
        response = client.post(admin_url(Task, "change", task.pk), data)
        assert response.status_code == 200
        errors = " ".join(response.context["adminform"].form.non_field_errors())
        assert "cannot go from ready to done" in errors
        assert "From ready it can go to: backlog, blocked, in_progress." in errors
        task.refresh_from_db()
        assert task.status == TaskStatus.READY
        assert task.title == "Task P1-T1"
        assert Event.objects.count() == before
        # The form comes back with what was typed.
        assert response.context["adminform"].form["title"].value() == "Renamed while moving"

    def test_legal_status_change_goes_through_the_service(self, client, plan):
        task = plan["task"]
        data = form_data(self.change_page(client, task))
        data.update({"move_to": TaskStatus.BLOCKED, "status_note": "waiting on keys"})
        response = client.post(admin_url(Task, "change", task.pk), data)
        assert response.status_code == 302
        task.refresh_from_db()
        assert task.status == TaskStatus.BLOCKED
        event = events_of("task.status_changed")[-1]
        assert event.actor == "user:ada"
        assert event.payload == {"from": "ready", "to": "blocked", "note": "waiting on keys"}

    def test_status_is_not_an_editable_field(self, client, plan):
        task = plan["task"]
        data = form_data(self.change_page(client, task))
        assert "status" not in data
        data["status"] = TaskStatus.DONE
        client.post(admin_url(Task, "change", task.pk), data)
        task.refresh_from_db()
        assert task.status == TaskStatus.READY

    def test_editing_plan_fields_records_task_updated(self, client, plan):
        task = Task.objects.get(key="P1-T2")
        data = form_data(self.change_page(client, task))
        data.update({"title": "Checkout", "file_globs": "src/checkout/**\r\nsrc/cart.py"})
        response = client.post(admin_url(Task, "change", task.pk), data)
        assert response.status_code == 302
        task.refresh_from_db()
        assert task.title == "Checkout"
        assert task.file_globs == ["src/checkout/**", "src/cart.py"]
        event = events_of("task.updated")[-1]
        assert event.actor == "user:ada"
        assert event.payload["changes"] == {
            "title": "Checkout",
            "file_globs": ["src/checkout/**", "src/cart.py"],
        }

    def test_dependency_cycle_is_refused_with_the_cycle_named(self, client, plan):
        first = plan["task"]
        second = Task.objects.get(key="P1-T2")
        data = form_data(self.change_page(client, first))
        data["depends_on"] = [str(second.pk)]
        response = client.post(admin_url(Task, "change", first.pk), data)
        assert response.status_code == 200
        errors = " ".join(response.context["adminform"].form.non_field_errors())
        assert "P1-T1 → P1-T2 → P1-T1" in errors
        assert not first.depends_on.exists()
        assert not events_of("task.updated")

    def test_adding_a_task_goes_through_the_service(self, client, plan):
        project = plan["project"]
        response = client.post(
            admin_url(Task, "add"),
            {
                "project": project.pk,
                "key": "P1-T3",
                "title": "Payments",
                "description": "",
                "phase": plan["phase"].pk,
                "estimate": 3,
                "file_globs": "src/pay/**",
                "depends_on": [str(plan["task"].pk)],
                "consumes": [str(plan["contract"].pk)],
            },
        )
        assert response.status_code == 302
        task = Task.objects.get(project=project, key="P1-T3")
        assert task.status == TaskStatus.BACKLOG
        assert [t.key for t in task.depends_on.all()] == ["P1-T1"]
        assert [c.name for c in task.consumes.all()] == ["AuthAPI"]
        event = events_of("task.added")[-1]
        assert (event.subject, event.actor) == ("task:P1-T3", "user:ada")

    def test_a_dependency_from_another_project_is_refused(self, client, plan):
        stranger = make_task(make_project(slug="other"), "X-1")
        response = client.post(
            admin_url(Task, "add"),
            {
                "project": plan["project"].pk,
                "key": "P1-T3",
                "title": "Payments",
                "phase": plan["phase"].pk,
                "estimate": 1,
                "depends_on": [str(stranger.pk)],
            },
        )
        assert response.status_code == 200
        errors = " ".join(response.context["adminform"].form.non_field_errors())
        assert "belong to another project" in errors
        assert not Task.objects.filter(key="P1-T3").exists()

    def test_tasks_cannot_be_deleted_in_the_admin(self, client, plan):
        task = plan["task"]
        assert client.post(admin_url(Task, "delete", task.pk), {"post": "yes"}).status_code == 403
        assert Task.objects.filter(pk=task.pk).exists()


class TestProjectAdmin:
    def test_adding_a_project_records_project_created(self, client):
        response = client.post(
            admin_url(Project, "add"),
            {
                "slug": "new-shop",
                "name": "New shop",
                "description": "",
                "integration_branch": "peer-progress",
                "max_debate_rounds": 5,
                "debate_round_seconds": 600,
                "debate_stalemate_escalates": "",  # an unticked checkbox
                "default_lock_ttl_seconds": 900,
                "coupling_guard": "refuse",
            },
        )
        assert response.status_code == 302
        created = Project.objects.get(slug="new-shop")
        assert created.coupling_guard == "refuse"
        assert (created.debate_round_seconds, created.debate_stalemate_escalates) == (600, False)
        event = events_of("project.created")[-1]
        assert (event.subject, event.actor) == ("project:new-shop", "user:ada")

    def test_editing_settings_records_project_updated(self, client, plan):
        project = plan["project"]
        data = form_data(client.get(admin_url(Project, "change", project.pk)))
        data.update({"name": "Shop v2", "max_debate_rounds": "7"})
        response = client.post(admin_url(Project, "change", project.pk), data)
        assert response.status_code == 302
        project.refresh_from_db()
        assert (project.name, project.max_debate_rounds) == ("Shop v2", 7)
        event = events_of("project.updated")[-1]
        assert event.payload["changes"] == {"name": "Shop v2", "max_debate_rounds": 7}

    def test_slug_cannot_be_changed(self, client, plan):
        project = plan["project"]
        data = form_data(client.get(admin_url(Project, "change", project.pk)))
        data["slug"] = "renamed"
        client.post(admin_url(Project, "change", project.pk), data)
        project.refresh_from_db()
        assert project.slug == "shop"

    def test_superuser_deletes_a_project_through_the_service(self, client, plan):
        project = plan["project"]
        confirm = client.get(admin_url(Project, "delete", project.pk))
        assert confirm.status_code == 200
        assert not confirm.context["perms_lacking"]
        response = client.post(admin_url(Project, "delete", project.pk), {"post": "yes"})
        assert response.status_code == 302
        assert not Project.objects.filter(pk=project.pk).exists()
        assert not Task.objects.filter(project_id=project.pk).exists()
        event = events_of("project.deleted")[-1]
        assert event.actor == "user:ada"
        assert event.payload == {
            "name": "Shop",
            "phases": 1,
            "tasks": 2,
            "contracts": 1,
            "agents": 1,
        }
        # The project's history outlives it.
        assert Event.objects.filter(project_id=project.pk, type="task.added").count() == 2

    def test_bulk_delete_action_deletes_each_project_through_the_service(self, client, plan):
        spare = make_project(slug="spare")
        response = client.post(
            admin_url(Project, "changelist"),
            {"action": "delete_selected", "_selected_action": [spare.pk], "post": "yes"},
        )
        assert response.status_code == 302
        assert not Project.objects.filter(pk=spare.pk).exists()
        assert Project.objects.filter(pk=plan["project"].pk).exists()
        assert [e.subject for e in events_of("project.deleted")] == ["project:spare"]

    def test_staff_without_superuser_cannot_delete_projects(self, plan):
        staff = make_user(username="staff", staff=False)
        staff.is_staff = True
        staff.save()
        staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="projects"))
        client = Client()
        client.force_login(staff)
        project = plan["project"]
        response = client.post(admin_url(Project, "delete", project.pk), {"post": "yes"})
        assert response.status_code == 403
        assert Project.objects.filter(pk=project.pk).exists()


class TestPhaseAdmin:
    def test_phase_added_without_a_number_goes_after_the_last(self, client, plan):
        project = plan["project"]
        response = client.post(
            admin_url(Phase, "add"),
            {"project": project.pk, "number": "", "name": "Polish", "description": ""},
        )
        assert response.status_code == 302
        assert project.phases.get(name="Polish").number == 2
        assert events_of("phase.added")[-1].actor == "user:ada"

    def test_renaming_a_phase_records_phase_updated(self, client, plan):
        phase = plan["phase"]
        data = form_data(client.get(admin_url(Phase, "change", phase.pk)))
        data["name"] = "Foundation"
        response = client.post(admin_url(Phase, "change", phase.pk), data)
        assert response.status_code == 302
        phase.refresh_from_db()
        assert phase.name == "Foundation"
        assert events_of("phase.updated")[-1].payload == {"changes": {"name": "Foundation"}}


class TestContractAdmin:
    def test_adding_a_contract_with_a_spec_publishes_version_one(self, client, plan):
        response = client.post(
            admin_url(Contract, "add"),
            {
                "project": plan["project"].pk,
                "name": "CartAPI",
                "kind": "api",
                "description": "",
                "owner_task": plan["task"].pk,
                "spec": "GET /cart",
                "rationale": "first cut",
            },
        )
        assert response.status_code == 302
        contract = Contract.objects.get(name="CartAPI")
        assert contract.owner_task == plan["task"]
        assert [v.spec for v in contract.versions.all()] == ["GET /cart"]
        assert events_of("contract.added")[-1].actor == "user:ada"

    def test_publishing_a_new_version_from_the_change_page(self, client, plan):
        contract = plan["contract"]
        data = form_data(client.get(admin_url(Contract, "change", contract.pk)))
        data.update({"new_spec": "v2 spec", "new_rationale": "tokens expire"})
        response = client.post(admin_url(Contract, "change", contract.pk), data)
        assert response.status_code == 302
        assert [v.number for v in contract.versions.all()] == [1, 2]
        event = events_of("contract.version_published")[-1]
        assert (event.actor, event.payload["version"]) == ("user:ada", 2)

    def test_contracts_cannot_be_deleted_in_the_admin(self, client, plan):
        contract = plan["contract"]
        response = client.post(admin_url(Contract, "delete", contract.pk), {"post": "yes"})
        assert response.status_code == 403
