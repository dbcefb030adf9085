"""What agents may change in the plan over REST: the same as over MCP, nothing more.

An agent changes what others depend on only through the recorded, propagated protocols: a
contract's owner publishes versions (each one reaches every consumer as a delta), everyone else
proposes; phases, tasks, contracts and dependencies are a human lead's.
"""

from __future__ import annotations

import pytest

from deltas.models import Delta
from projects import services
from projects.models import ContractVersion, Task
from tests.factories import SYSTEM, make_agent, make_project, make_task
from tests.projects.api_support import API, agent_client, error_of, member_client, unchanged

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    project = make_project(slug="team")
    services.add_phase(project=project, name="First", actor=SYSTEM)
    make_task(project, "API-1")
    make_task(project, "UI-1", consumes=())
    owner, owner_token = make_agent(project, "owner")
    other, other_token = make_agent(project, "other")
    services.claim_task(agent=owner, task_key="API-1")
    services.claim_task(agent=other, task_key="UI-1")
    services.add_contract(
        project=project, name="AuthAPI", spec="POST /login", owner_task_key="API-1", actor=SYSTEM
    )
    ui = Task.objects.get(project=project, key="UI-1")
    services.update_task(task=ui, actor=SYSTEM, consumes=["AuthAPI"])
    return project, owner_token, other_token


def versions_url(project) -> str:
    return f"{API}/projects/{project.slug}/contracts/AuthAPI/versions"


class TestContractVersionsOverRest:
    def test_a_non_owner_agent_is_refused_and_told_how_to_propose(self, team) -> None:
        project, _, other_token = team
        with unchanged():
            error = error_of(
                agent_client(other_token).post(
                    versions_url(project), {"spec": "POST /login v2"}, format="json"
                ),
                403,
                "not_contract_owner",
            )
        assert "push_delta" in error["message"]
        assert "open_debate" in error["message"]
        assert not Delta.objects.filter(project=project).exists()

    def test_the_owner_publishes_and_every_consumer_is_told(self, team) -> None:
        project, owner_token, _ = team
        response = agent_client(owner_token).post(
            versions_url(project),
            {"spec": "POST /login v2", "rationale": "refresh tokens"},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["number"] == 2
        delta = Delta.objects.get(project=project, seq=body["delta_seq"])
        assert delta.kind == "contract_change"
        assert delta.significance == "breaking"
        assert delta.contracts == ["AuthAPI"]
        assert delta.contract_version.number == 2

    def test_a_human_lead_publishes_with_a_delta_a_viewer_may_not(self, team) -> None:
        project, _, _ = team
        viewer = member_client(project, "viewer")
        with unchanged():
            error_of(
                viewer.post(versions_url(project), {"spec": "v2"}, format="json"),
                403,
                "role_required",
            )
        response = member_client(project, "lead").post(
            versions_url(project), {"spec": "v2", "significance": "normal"}, format="json"
        )
        assert response.status_code == 201, response.content
        assert Delta.objects.get(seq=response.json()["delta_seq"]).significance == "normal"
        assert ContractVersion.objects.filter(contract__name="AuthAPI").count() == 2


class TestPlanShapeOverRest:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("post", "phases/", {"name": "Mine"}),
            ("patch", "phases/1/", {"name": "Renamed by an agent"}),
            ("post", "tasks/", {"key": "X-1", "title": "Extra", "phase": 1}),
            ("post", "contracts/", {"name": "SneakyAPI"}),
        ],
        ids=["add a phase", "rename a phase", "add a task", "add a contract"],
    )
    def test_agents_cannot_add_or_rename_plan_items(self, team, method, path, body) -> None:
        project, owner_token, _ = team
        client = agent_client(owner_token)
        with unchanged():
            error = error_of(
                getattr(client, method)(
                    f"{API}/projects/{project.slug}/{path}", body, format="json"
                ),
                403,
                "humans_only",
            )
        assert "push_delta" in error["message"]

    @pytest.mark.parametrize(
        "change",
        [{"depends_on": ["UI-1"]}, {"consumes": ["AuthAPI"]}, {"phase": 1}, {"estimate": 8}],
        ids=["depends_on", "consumes", "phase", "estimate"],
    )
    def test_an_agent_cannot_reshape_even_its_own_task(self, team, change) -> None:
        project, owner_token, _ = team
        with unchanged():
            error = error_of(
                agent_client(owner_token).patch(
                    f"{API}/projects/{project.slug}/tasks/API-1/", change, format="json"
                ),
                403,
                "plan_field_for_humans",
            )
        assert error["details"]["fields"] == list(change)

    def test_an_agent_describes_its_own_task(self, team) -> None:
        project, owner_token, _ = team
        response = agent_client(owner_token).patch(
            f"{API}/projects/{project.slug}/tasks/API-1/",
            {"title": "Login endpoint", "file_globs": ["src/auth/**"]},
            format="json",
        )
        assert response.status_code == 200, response.content
        task = Task.objects.get(project=project, key="API-1")
        assert (task.title, task.file_globs) == ("Login endpoint", ["src/auth/**"])
