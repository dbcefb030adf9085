"""REST API: phases and tasks (list, add, edit, claim, status).

Adding and renaming phases and adding tasks are a human lead's; what agents may and may not
change in the plan is tested in ``test_plan_by_agents.py``.
"""

from __future__ import annotations

import pytest

from peercode.events.models import Event
from projects.models import Phase, Task, TaskStatus
from tests.factories import make_agent, make_contract, make_phase, make_project, make_task
from tests.projects.api_support import (
    API,
    agent_client,
    error_of,
    human_client,
    member_client,
    unchanged,
)

pytestmark = pytest.mark.django_db

TASKS = API + "/projects/alpha/tasks/"
PHASES = API + "/projects/alpha/phases/"


@pytest.fixture
def alpha():
    """Project 'alpha': T1 (ready) ← T2 (backlog), contract AuthAPI, agents bot and other-bot."""
    project = make_project(slug="alpha", name="Alpha")
    make_task(project, "T1", file_globs=["src/api/**"], estimate=2)
    make_task(project, "T2", depends_on=["T1"], file_globs=["src/api/auth.py"])
    make_contract(project, "AuthAPI", owner="T1")
    bot, token = make_agent(project, "bot")
    _, other_token = make_agent(project, "other-bot")
    return project, bot, token, other_token


class TestPhases:
    def test_phases_are_listed_in_order(self, alpha):
        project, _, token, _ = alpha
        make_phase(project, number=3, name="Polish")
        body = agent_client(token).get(PHASES).json()
        assert [(p["number"], p["name"]) for p in body["results"]] == [
            (1, "Phase 1"),
            (3, "Polish"),
        ]

    def test_a_phase_without_a_number_goes_after_the_last_one(self, alpha):
        response = human_client().post(PHASES, {"name": "Next"}, format="json")
        assert response.status_code == 201, response.content
        assert response.json() == {"number": 2, "name": "Next", "description": ""}
        assert Event.objects.filter(type="phase.added", subject="phase:2").exists()

    def test_human_adds_a_phase_with_a_number(self, alpha):
        response = human_client().post(
            PHASES, {"name": "Ten", "number": 10, "description": "Late."}, format="json"
        )
        assert response.status_code == 201, response.content
        assert Phase.objects.get(project__slug="alpha", number=10).description == "Late."

    @pytest.mark.parametrize(
        ("body", "status", "mentions"),
        [
            ({}, 400, "name"),
            ({"name": ""}, 400, "name"),
            ({"name": "x" * 201}, 400, "name"),
            ({"name": "x", "number": 0}, 400, "number"),
            ({"name": "x", "number": -3}, 400, "number"),
            ({"name": "x", "number": "two"}, 400, "valid integer"),
            ({"name": "x", "number": 10**40}, 400, "number"),
            ({"name": "x", "number": 1}, 409, "already has a phase 1"),
        ],
    )
    def test_bad_phase_is_refused_and_nothing_is_written(self, alpha, body, status, mentions):
        with unchanged():
            error = error_of(human_client().post(PHASES, body, format="json"), status)
        assert mentions in error["message"]

    def test_phase_is_renamed(self, alpha):
        project, _, _, _ = alpha
        response = member_client(project, "lead").patch(
            PHASES + "1/", {"name": "Foundations", "description": "Base."}, format="json"
        )
        assert response.status_code == 200, response.content
        assert response.json()["name"] == "Foundations"
        assert Phase.objects.get(project__slug="alpha", number=1).description == "Base."
        assert Event.objects.filter(type="phase.updated", subject="phase:1").exists()

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [({}, "Nothing to change"), ({"number": 2}, "number"), ({"name": None}, "name")],
    )
    def test_bad_phase_change_is_refused(self, alpha, body, mentions):
        with unchanged():
            error = error_of(human_client().patch(PHASES + "1/", body, format="json"), 400)
        assert mentions in error["message"]

    @pytest.mark.parametrize("number", ["7", "99999999999999999999999"])
    def test_changing_an_unknown_phase_is_a_404(self, alpha, number):
        with unchanged():
            response = human_client().patch(PHASES + f"{number}/", {"name": "x"}, format="json")
            error_of(response, 404, "unknown_phase")


class TestTaskList:
    def test_tasks_are_listed_in_plan_order_with_their_links(self, alpha):
        _, _, token, _ = alpha
        body = agent_client(token).get(TASKS).json()
        assert body["count"] == 2
        first, second = body["results"]
        assert first["key"] == "T1"
        assert first["status"] == "ready"
        assert first["provides"] == ["AuthAPI"]
        assert first["estimate"] == 2
        assert second["depends_on"] == ["T1"]
        assert second["status"] == "backlog"
        assert second["assignee"] is None

    def test_tasks_are_filtered_by_status_phase_and_assignee(self, alpha):
        project, _, token, _ = alpha
        make_task(project, "P2-T1", phase=2)
        client = agent_client(token)
        client.post(TASKS + "T1/claim")

        def keys(query: dict[str, str]) -> list[str]:
            return [t["key"] for t in client.get(TASKS, query).json()["results"]]

        assert keys({"status": "backlog"}) == ["T2"]
        assert keys({"phase": "2"}) == ["P2-T1"]
        assert keys({"assignee": "bot"}) == ["T1"]
        assert keys({"assignee": "other-bot"}) == []
        assert keys({"status": "ready", "phase": "2"}) == ["P2-T1"]

    @pytest.mark.parametrize(
        ("query", "mentions"),
        [
            ({"status": "doing"}, "backlog, ready, in_progress"),
            ({"phase": "first"}, "valid integer"),
            ({"phase": "0"}, "phase"),
            ({"state": "ready"}, "Unknown query parameter 'state'"),
        ],
    )
    def test_bad_task_filters_are_refused_naming_what_to_use(self, alpha, query, mentions):
        error = error_of(human_client().get(TASKS, query), 400, "invalid")
        assert mentions in error["message"]

    def test_the_plan_order_survives_pagination(self, alpha):
        project, _, _, _ = alpha
        for n in range(3, 8):
            make_task(project, f"T{n}")
        client = human_client()
        first = client.get(TASKS, {"limit": 4}).json()
        rest = client.get(first["next"]).json()
        keys = [t["key"] for t in first["results"] + rest["results"]]
        assert keys == ["T1", "T2", "T3", "T4", "T5", "T6", "T7"]


class TestTaskCreate:
    def test_a_lead_adds_a_task_that_starts_in_backlog_behind_its_dependency(self, alpha):
        project, _, _, _ = alpha
        response = member_client(project, "lead").post(
            TASKS,
            {
                "key": "T3",
                "title": "Login form",
                "phase": 1,
                "description": "The form.",
                "depends_on": ["T1"],
                "file_globs": ["web/login/**"],
                "consumes": ["AuthAPI"],
                "estimate": 5,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "backlog"
        assert body["depends_on"] == ["T1"]
        assert body["consumes"] == ["AuthAPI"]
        event = Event.objects.get(type="task.added", subject="task:T3")
        lead = project.memberships.get(role="lead").user
        assert event.actor == f"user:{lead.username}"

    def test_human_adds_a_ready_task(self, alpha):
        response = human_client().post(
            TASKS, {"key": "T3", "title": "Docs", "phase": 1}, format="json"
        )
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "ready"

    @pytest.mark.parametrize(
        ("body", "status", "mentions"),
        [
            ({"title": "x", "phase": 1}, 400, "key"),
            ({"key": "T3", "phase": 1}, 400, "title"),
            ({"key": "T3", "title": "x"}, 400, "phase"),
            ({"key": "bad key!", "title": "x", "phase": 1}, 400, "task key"),
            ({"key": "k" * 41, "title": "x", "phase": 1}, 400, "key"),
            ({"key": "T3", "title": "x" * 301, "phase": 1}, 400, "title"),
            ({"key": "T3", "title": "x", "phase": "one"}, 400, "valid integer"),
            ({"key": "T3", "title": "x", "phase": 9}, 404, "no phase 9"),
            ({"key": "T3", "title": "x", "phase": 10**20}, 400, "phase"),
            ({"key": "T3", "title": "x", "phase": 1, "depends_on": "T1"}, 400, "list"),
            ({"key": "T3", "title": "x", "phase": 1, "depends_on": {"a": 1}}, 400, "list"),
            ({"key": "T3", "title": "x", "phase": 1, "depends_on": [["T1"]]}, 400, "depends_on"),
            ({"key": "T3", "title": "x", "phase": 1, "depends_on": ["NOPE"]}, 400, "NOPE"),
            ({"key": "T3", "title": "x", "phase": 1, "consumes": ["Nope"]}, 400, "Nope"),
            ({"key": "T3", "title": "x", "phase": 1, "file_globs": ["../etc"]}, 400, ".."),
            ({"key": "T3", "title": "x", "phase": 1, "file_globs": ["/abs"]}, 400, "relative"),
            ({"key": "T3", "title": "x", "phase": 1, "file_globs": "src/**"}, 400, "list"),
            (
                {"key": "T3", "title": "x", "phase": 1, "file_globs": ["a"] * 1001},
                400,
                "file_globs",
            ),
            ({"key": "T3", "title": "x", "phase": 1, "estimate": 0}, 400, "estimate"),
            ({"key": "T3", "title": "x", "phase": 1, "estimate": 1001}, 400, "1000"),
            ({"key": "T3", "title": "x", "phase": 1, "estimate": True}, 400, "estimate"),
            ({"key": "T3", "title": "x", "phase": 1, "status": "done"}, 400, "status"),
            ({"key": "T1", "title": "x", "phase": 1}, 409, "already has a task T1"),
        ],
    )
    def test_bad_task_is_refused_and_nothing_is_written(self, alpha, body, status, mentions):
        with unchanged():
            error = error_of(human_client().post(TASKS, body, format="json"), status)
        assert mentions in error["message"]


class TestTaskDetail:
    def test_task_shows_its_dependencies_and_dependents(self, alpha):
        _, _, token, _ = alpha
        body = agent_client(token).get(TASKS + "T1/").json()
        assert body["key"] == "T1"
        assert body["dependents"] == ["T2"]
        assert body["file_globs"] == ["src/api/**"]

    @pytest.mark.parametrize("key", ["NOPE", "has%20space", "%00"])
    def test_unknown_or_malformed_task_key_is_a_404(self, alpha, key):
        error_of(human_client().get(TASKS + f"{key}/"), 404)

    def test_human_edits_a_task(self, alpha):
        response = human_client().patch(
            TASKS + "T2/",
            {"title": "Renamed", "estimate": 3, "depends_on": [], "consumes": ["AuthAPI"]},
            format="json",
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["title"], body["estimate"], body["depends_on"]) == ("Renamed", 3, [])
        assert body["consumes"] == ["AuthAPI"]
        event = Event.objects.get(type="task.updated", subject="task:T2")
        assert event.payload["changes"]["title"] == "Renamed"

    def test_the_assignee_edits_its_own_task(self, alpha):
        _, _, token, _ = alpha
        client = agent_client(token)
        client.post(TASKS + "T1/claim")
        response = client.patch(TASKS + "T1/", {"description": "Now with tests."}, format="json")
        assert response.status_code == 200, response.content
        assert Task.objects.get(key="T1").description == "Now with tests."

    def test_an_agent_cannot_edit_a_task_assigned_to_someone_else(self, alpha):
        _, _, token, other_token = alpha
        agent_client(token).post(TASKS + "T1/claim")
        with unchanged():
            response = agent_client(other_token).patch(
                TASKS + "T1/", {"title": "Mine"}, format="json"
            )
            error = error_of(response, 403, "not_assignee")
        assert "not assigned to you" in error["message"]

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({}, "Nothing to change"),
            ({"status": "done"}, "Unknown field 'status'"),
            ({"key": "T9"}, "Unknown field 'key'"),
            ({"title": ""}, "title"),
            ({"phase": 5}, "no phase 5"),
            ({"depends_on": ["T2"]}, "T1 → T2 → T1"),
            ({"depends_on": ["T1"], "estimate": 0}, "estimate"),
            ({"file_globs": [""]}, "file_globs"),
        ],
    )
    def test_bad_task_change_is_refused_and_nothing_is_written(self, alpha, body, mentions):
        with unchanged():
            response = human_client().patch(TASKS + "T1/", body, format="json")
            assert response.status_code in (400, 404)
            error = error_of(response, response.status_code)
        assert mentions in error["message"]


class TestClaim:
    def test_agent_claims_a_ready_task(self, alpha):
        _, _, token, _ = alpha
        response = agent_client(token).post(TASKS + "T1/claim")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "in_progress"
        assert response.json()["assignee"] == "bot"
        assert Event.objects.get(type="task.claimed").actor == "agent:bot"

    def test_a_task_claimed_by_another_agent_is_a_conflict_naming_the_holder(self, alpha):
        _, _, token, other_token = alpha
        agent_client(token).post(TASKS + "T1/claim")
        with unchanged():
            error = error_of(agent_client(other_token).post(TASKS + "T1/claim"), 409)
        assert "assigned to bot" in error["message"]

    def test_a_backlog_task_cannot_be_claimed_and_the_message_says_why(self, alpha):
        _, _, token, _ = alpha
        with unchanged():
            error = error_of(agent_client(token).post(TASKS + "T2/claim"), 409, "not_claimable")
        assert "waiting for T1" in error["message"]

    def test_claiming_an_unknown_task_is_a_404(self, alpha):
        _, _, token, _ = alpha
        with unchanged():
            error_of(agent_client(token).post(TASKS + "T9/claim"), 404, "unknown_task")

    def test_claim_takes_no_body(self, alpha):
        _, _, token, _ = alpha
        with unchanged():
            response = agent_client(token).post(TASKS + "T1/claim", {"agent": "x"}, format="json")
            error = error_of(response, 400, "invalid")
        assert "agent" in error["message"]

    def test_an_agent_cannot_claim_through_another_projects_url(self, alpha):
        other = make_project(slug="other")
        make_task(other, "T1")
        _, _, token, _ = alpha
        with unchanged():
            response = agent_client(token).post(API + "/projects/other/tasks/T1/claim")
            error_of(response, 403, "wrong_project")


class TestStatus:
    def test_assignee_moves_its_task_to_review_with_a_note(self, alpha):
        _, _, token, _ = alpha
        client = agent_client(token)
        client.post(TASKS + "T1/claim")
        response = client.post(
            TASKS + "T1/status", {"status": "review", "note": "PR #4"}, format="json"
        )
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "review"
        event = Event.objects.get(type="task.status_changed", subject="task:T1")
        assert event.payload == {"from": "in_progress", "to": "review", "note": "PR #4"}

    def test_finishing_a_task_makes_its_dependents_ready(self, alpha):
        _, _, token, _ = alpha
        client = agent_client(token)
        client.post(TASKS + "T1/claim")
        client.post(TASKS + "T1/status", {"status": "review"}, format="json")
        human_client().post(TASKS + "T1/status", {"status": "done"}, format="json")
        assert Task.objects.get(key="T2").status == TaskStatus.READY

    @pytest.mark.parametrize(
        ("body", "status", "mentions"),
        [
            ({}, 400, "status"),
            ({"status": "finished"}, 400, "backlog, ready, in_progress, review, blocked, done"),
            ({"status": ["done"]}, 400, "status"),
            ({"status": "done"}, 409, "From ready it can go to"),
            ({"status": "in_progress"}, 409, "no assignee"),
            ({"status": "blocked", "note": "n" * 2001}, 400, "note"),
        ],
    )
    def test_bad_status_change_is_refused_and_nothing_is_written(
        self, alpha, body, status, mentions
    ):
        with unchanged():
            response = human_client().post(TASKS + "T1/status", body, format="json")
            error = error_of(response, status)
        assert mentions in error["message"]

    def test_an_agent_cannot_move_a_task_it_does_not_hold(self, alpha):
        _, _, token, _ = alpha
        with unchanged():
            response = agent_client(token).post(
                TASKS + "T1/status", {"status": "blocked"}, format="json"
            )
            error_of(response, 403, "not_assignee")
