"""REST API: authentication, project boundaries, projects, agents, whoami and the event log.

Tasks, phases and contracts are in test_api_tasks.py and test_api_contracts.py; the plan as a
whole (import, export, decomposition) in test_api_plan.py.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from peercode.events.models import Event
from projects.models import Agent, Project
from tests.factories import make_agent, make_contract, make_project, make_task
from tests.projects.api_support import API, agent_client, error_of, human_client, unchanged

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha():
    """Project 'alpha' with agent 'alpha-bot', one ready task and one contract."""
    project = make_project(slug="alpha", name="Alpha")
    agent, token = make_agent(project, "alpha-bot")
    make_task(project, "T1", file_globs=["src/**"])
    make_contract(project, "AuthAPI", owner="T1")
    return project, agent, token


@pytest.fixture
def beta_token():
    """A valid token of another project, 'beta'."""
    project = make_project(slug="beta", name="Beta")
    return make_agent(project, "beta-bot")[1]


# Every endpoint an agent of alpha may call, with a body that would succeed, so refusals are
# about who calls, never about the input.
AGENT_CALLS = [
    ("get", "/projects/alpha/", None),
    ("get", "/projects/alpha/plan/", None),
    ("get", "/projects/alpha/plan/export", None),
    ("get", "/projects/alpha/phases/", None),
    ("post", "/projects/alpha/phases/", {"name": "Later"}),
    ("patch", "/projects/alpha/phases/1/", {"name": "Renamed"}),
    ("get", "/projects/alpha/tasks/", None),
    ("post", "/projects/alpha/tasks/", {"key": "T9", "title": "New", "phase": 1}),
    ("get", "/projects/alpha/tasks/T1/", None),
    ("post", "/projects/alpha/tasks/T1/claim", None),
    ("post", "/projects/alpha/tasks/T1/status", {"status": "blocked"}),
    ("get", "/projects/alpha/contracts/", None),
    ("post", "/projects/alpha/contracts/", {"name": "NewAPI"}),
    ("get", "/projects/alpha/contracts/AuthAPI/", None),
    ("post", "/projects/alpha/contracts/AuthAPI/versions", {"spec": "v2"}),
    ("get", "/projects/alpha/agents/", None),
    ("get", "/projects/alpha/events/", None),
]

# Endpoints only a logged-in human may call.
HUMAN_CALLS = [
    ("post", "/projects/", {"slug": "gamma", "name": "Gamma"}),
    ("patch", "/projects/alpha/", {"name": "Renamed"}),
    ("post", "/projects/alpha/agents/", {"name": "another"}),
    ("post", "/projects/alpha/agents/alpha-bot/rotate", None),
    ("post", "/projects/alpha/agents/alpha-bot/revoke", None),
    ("post", "/projects/alpha/plan/import?replace=true", {"phases": [], "tasks": []}),
    ("post", "/projects/alpha/plan/decompose", {"description": "A todo app."}),
]


def call(client: APIClient, method: str, path: str, body: object = None):
    return getattr(client, method)(API + path, body, format="json")


class TestAuthentication:
    @pytest.mark.parametrize(("method", "path", "body"), AGENT_CALLS + HUMAN_CALLS)
    def test_no_token_is_refused_with_how_to_authenticate(self, alpha, method, path, body):
        with unchanged():
            error = error_of(call(APIClient(), method, path, body), 401, "not_authenticated")
        assert "Authorization: Bearer <agent token>" in error["message"]

    def test_no_token_response_names_the_bearer_scheme(self, alpha):
        response = APIClient().get(API + "/projects/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("token", ["pc_not-a-real-token", "not-even-prefixed", "pc_"])
    def test_wrong_token_is_refused(self, alpha, token):
        with unchanged():
            error = error_of(agent_client(token).get(API + "/projects/alpha/"), 401)
        assert "Unknown or revoked agent token" in error["message"]

    def test_revoked_token_is_refused(self, alpha):
        _, _, token = alpha
        human_client().post(API + "/projects/alpha/agents/alpha-bot/revoke")
        error_of(agent_client(token).get(API + "/me"), 401, "authentication_failed")

    @pytest.mark.parametrize(("method", "path", "body"), AGENT_CALLS)
    def test_another_projects_token_is_refused_and_changes_nothing(
        self, alpha, beta_token, method, path, body
    ):
        with unchanged():
            response = call(agent_client(beta_token), method, path, body)
            error = error_of(response, 403, "wrong_project")
        assert "belongs to another project" in error["message"]
        assert "alpha" in error["message"]

    @pytest.mark.parametrize(("method", "path", "body"), HUMAN_CALLS)
    def test_agent_on_a_humans_only_endpoint_is_refused_and_changes_nothing(
        self, alpha, method, path, body
    ):
        _, _, token = alpha
        with unchanged():
            error = error_of(call(agent_client(token), method, path, body), 403, "humans_only")
        assert "Only a human" in error["message"]

    def test_agent_on_a_humans_only_endpoint_with_bad_input_still_gets_403(self, alpha):
        _, _, token = alpha
        with unchanged():
            response = agent_client(token).post(API + "/projects/", {"bad": 1}, format="json")
            error_of(response, 403, "humans_only")

    def test_a_human_cannot_claim_a_task(self, alpha):
        with unchanged():
            response = human_client().post(API + "/projects/alpha/tasks/T1/claim")
            error = error_of(response, 403, "agents_only")
        assert "Only an agent" in error["message"]

    def test_authenticating_refreshes_the_agents_last_seen_time(self, alpha):
        _, agent, token = alpha
        assert agent.last_seen_at is None
        agent_client(token).get(API + "/me")
        agent.refresh_from_db()
        assert agent.last_seen_at is not None


class TestErrorsAreJson:
    def test_unknown_project_is_a_json_404(self, alpha):
        error = error_of(human_client().get(API + "/projects/nope/tasks/"), 404, "not_found")
        assert "nope" in error["message"]

    def test_unknown_project_is_a_404_for_an_agent_too(self, alpha):
        _, _, token = alpha
        error_of(agent_client(token).get(API + "/projects/nope/"), 404, "not_found")

    def test_unknown_api_path_is_a_json_404(self, alpha):
        error = error_of(human_client().get(API + "/nothing-here/"), 404, "not_found")
        assert "/api/docs/" in error["message"]

    def test_method_not_allowed_is_json(self, alpha):
        error_of(human_client().delete(API + "/projects/alpha/"), 405, "method_not_allowed")

    # Every endpoint that takes a body, as a human (who may call them all).
    BODY_CALLS = [
        ("post", "/projects/"),
        ("patch", "/projects/alpha/"),
        ("post", "/projects/alpha/phases/"),
        ("patch", "/projects/alpha/phases/1/"),
        ("post", "/projects/alpha/tasks/"),
        ("patch", "/projects/alpha/tasks/T1/"),
        ("post", "/projects/alpha/tasks/T1/status"),
        ("post", "/projects/alpha/contracts/"),
        ("post", "/projects/alpha/contracts/AuthAPI/versions"),
        ("post", "/projects/alpha/agents/"),
        ("post", "/projects/alpha/agents/alpha-bot/rotate"),
        ("post", "/projects/alpha/agents/alpha-bot/revoke"),
        ("post", "/projects/alpha/plan/import"),
        ("post", "/projects/alpha/plan/decompose"),
    ]

    @pytest.mark.parametrize(("method", "path"), BODY_CALLS)
    def test_malformed_json_is_a_400_and_changes_nothing(self, alpha, method, path):
        client = human_client()
        with unchanged():
            response = getattr(client, method)(
                API + path, data='{"name": "x",', content_type="application/json"
            )
            error = error_of(response, 400, "parse_error")
        assert "JSON parse error" in error["message"]

    @pytest.mark.parametrize(("method", "path"), BODY_CALLS)
    def test_absurdly_nested_json_is_a_400_not_a_crash(self, alpha, method, path):
        client = human_client()
        with unchanged():
            body = "[" * 100_000 + "]" * 100_000
            response = getattr(client, method)(
                API + path, data=body, content_type="application/json"
            )
            error_of(response, 400, "parse_error")

    @pytest.mark.parametrize("text", ["a\x00b", "a\ud800b"])
    @pytest.mark.parametrize(("method", "path"), BODY_CALLS)
    def test_text_the_database_cannot_store_is_a_400_naming_where_it_is(
        self, alpha, method, path, text
    ):
        client = human_client()
        body = json.dumps({"name": "ok", "tasks": [{"title": text}]})  # escaped: \u0000, \ud800
        with unchanged():
            response = getattr(client, method)(
                API + path, data=body, content_type="application/json"
            )
            error = error_of(response, 400, "parse_error")
        assert "tasks[0].title contains the character U+" in error["message"]

    @pytest.mark.parametrize(("method", "path"), BODY_CALLS)
    def test_a_form_body_is_refused_as_unsupported(self, alpha, method, path):
        client = human_client()
        with unchanged():
            response = getattr(client, method)(
                API + path, data="name=x", content_type="application/x-www-form-urlencoded"
            )
            error = error_of(response, 415, "unsupported_media_type")
        assert "application/x-www-form-urlencoded" in error["message"]

    @pytest.mark.parametrize(("method", "path"), BODY_CALLS)
    def test_a_json_list_instead_of_an_object_is_a_400(self, alpha, method, path):
        client = human_client()
        with unchanged():
            response = getattr(client, method)(API + path, data=["name"], format="json")
            error_of(response, 400, None)

    @pytest.mark.parametrize(("method", "path"), BODY_CALLS)
    def test_unknown_fields_are_refused_by_name(self, alpha, method, path):
        client = human_client()
        with unchanged():
            response = getattr(client, method)(
                API + path, data={"surprise": 1, "extra_field": "x"}, format="json"
            )
            error = error_of(response, 400, None)
        if "plan/import" not in path:
            assert "surprise" in error["message"]
            assert "extra_field" in error["message"]

    def test_a_body_over_the_upload_limit_is_a_413(self, alpha, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
        with unchanged():
            response = human_client().post(
                API + "/projects/alpha/tasks/",
                {"key": "T2", "title": "x", "phase": 1, "description": "y" * 20_000},
                format="json",
            )
            error = error_of(response, 413, "too_large")
        assert "10000 bytes" in error["message"]


class TestProjects:
    def test_agent_lists_only_its_own_project(self, alpha, beta_token):
        body = agent_client(beta_token).get(API + "/projects/").json()
        assert body["count"] == 1
        assert [p["slug"] for p in body["results"]] == ["beta"]

    def test_human_lists_every_project_paginated(self, alpha, beta_token):
        make_project(slug="gamma")
        client = human_client()
        body = client.get(API + "/projects/").json()
        assert [p["slug"] for p in body["results"]] == ["alpha", "beta", "gamma"]
        page = client.get(API + "/projects/?limit=1&offset=1").json()
        assert page["count"] == 3
        assert [p["slug"] for p in page["results"]] == ["beta"]
        assert page["next"]
        assert page["previous"]

    def test_human_creates_a_project_and_the_event_is_recorded(self):
        response = human_client(username="ada").post(
            API + "/projects/",
            {
                "slug": "shop",
                "name": "Shop",
                "description": "An online shop.",
                "integration_branch": "integration",
                "max_debate_rounds": 3,
                "default_lock_ttl_seconds": 600,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["slug"] == "shop"
        assert body["integration_branch"] == "integration"
        assert body["max_debate_rounds"] == 3
        project = Project.objects.get(slug="shop")
        assert project.default_lock_ttl_seconds == 600
        event = Event.objects.get(project=project, type="project.created")
        assert event.actor == "user:ada"

    @pytest.mark.parametrize(
        ("body", "status", "mentions"),
        [
            ({"name": "No slug"}, 400, "slug"),
            ({"slug": "shop"}, 400, "name"),
            ({"slug": "Not A Slug!", "name": "x"}, 400, "lowercase letters"),
            ({"slug": "-shop", "name": "x"}, 400, "slug"),
            ({"slug": "s" * 51, "name": "x"}, 400, "slug"),
            ({"slug": "shop", "name": "x" * 201}, 400, "name"),
            ({"slug": "shop", "name": ""}, 400, "name"),
            ({"slug": "shop", "name": None}, 400, "name"),
            ({"slug": ["shop"], "name": "x"}, 400, "slug"),
            ({"slug": "shop", "name": "x", "max_debate_rounds": "many"}, 400, "valid integer"),
            ({"slug": "shop", "name": "x", "max_debate_rounds": 0}, 400, "max_debate_rounds"),
            ({"slug": "shop", "name": "x", "max_debate_rounds": 10**30}, 400, "max_debate_rounds"),
            ({"slug": "shop", "name": "x", "max_debate_rounds": 2.5}, 400, "max_debate_rounds"),
            ({"slug": "shop", "name": "x", "default_lock_ttl_seconds": 5}, 400, "10"),
            ({"slug": "shop", "name": "x", "description": "d" * 20_001}, 400, "description"),
            ({"slug": "shop", "name": "x\x00y"}, 400, "name contains the character U+0000"),
            ({"slug": "alpha", "name": "Again"}, 409, "already exists"),
        ],
    )
    def test_bad_project_is_refused_and_nothing_is_written(self, alpha, body, status, mentions):
        with unchanged():
            response = human_client().post(API + "/projects/", body, format="json")
            error = error_of(response, status)
        assert mentions in error["message"]

    def test_project_detail_for_an_agent_and_a_human(self, alpha):
        _, _, token = alpha
        assert agent_client(token).get(API + "/projects/alpha/").json()["name"] == "Alpha"
        assert human_client().get(API + "/projects/alpha/").json()["slug"] == "alpha"

    def test_human_changes_project_settings(self, alpha):
        response = human_client().patch(
            API + "/projects/alpha/",
            {"name": "Alpha 2", "default_lock_ttl_seconds": 60},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert response.json()["name"] == "Alpha 2"
        project = Project.objects.get(slug="alpha")
        assert (project.name, project.default_lock_ttl_seconds) == ("Alpha 2", 60)
        event = Event.objects.get(project=project, type="project.updated")
        assert event.payload["changes"] == {"name": "Alpha 2", "default_lock_ttl_seconds": 60}

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({}, "Nothing to change"),
            ({"slug": "other"}, "slug"),
            ({"name": None}, "name"),
            ({"name": ""}, "name"),
            ({"max_debate_rounds": 51}, "50"),
            ({"default_lock_ttl_seconds": "soon"}, "valid integer"),
            ({"integration_branch": "b" * 201}, "integration_branch"),
        ],
    )
    def test_bad_project_change_is_refused_and_nothing_is_written(self, alpha, body, mentions):
        with unchanged():
            response = human_client().patch(API + "/projects/alpha/", body, format="json")
            error = error_of(response, 400)
        assert mentions in error["message"]

    def test_changing_an_unknown_project_is_a_404(self, alpha):
        with unchanged():
            response = human_client().patch(API + "/projects/nope/", {"name": "x"}, format="json")
            error_of(response, 404, "not_found")


class TestAgents:
    def test_agents_are_listed_without_any_token_or_hash(self, alpha):
        _, agent, token = alpha
        response = agent_client(token).get(API + "/projects/alpha/agents/")
        assert response.status_code == 200
        (listed,) = response.json()["results"]
        assert listed["name"] == "alpha-bot"
        assert listed["token_prefix"] == token[:10]
        assert set(listed) == {
            "name",
            "client_kind",
            "token_prefix",
            "is_active",
            "created_at",
            "last_seen_at",
        }
        assert agent.token_hash not in response.content.decode()
        assert token not in response.content.decode()

    def test_human_creates_an_agent_and_gets_its_token_once_with_client_configs(self, alpha):
        client = human_client(username="ada")
        response = client.post(
            API + "/projects/alpha/agents/",
            {"name": "cursor-ui", "client_kind": "cursor"},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        token = body["token"]
        assert body["agent"]["name"] == "cursor-ui"
        assert body["agent"]["client_kind"] == "cursor"
        assert "never" in body["message"] or "cannot show it again" in body["message"]
        assert set(body["mcp_config"]) == {"claude_code", "cursor", "codex", "windsurf", "other"}
        assert all(token in snippet for snippet in body["mcp_config"].values())
        agent = Agent.objects.get(name="cursor-ui")
        assert agent.token_hash not in response.content.decode()
        event = Event.objects.get(type="agent.created", subject="agent:cursor-ui")
        assert event.actor == "user:ada"
        # The token works, and it is never shown again.
        assert agent_client(token).get(API + "/me").json()["name"] == "cursor-ui"
        assert token not in client.get(API + "/projects/alpha/agents/").content.decode()

    @pytest.mark.parametrize(
        ("body", "status", "mentions"),
        [
            ({}, 400, "name"),
            ({"name": "has space"}, 400, "agent name"),
            ({"name": "x" * 65}, 400, "name"),
            ({"name": "ok", "client_kind": "vim"}, 400, "claude_code"),
            ({"name": 7, "client_kind": ["cursor"]}, 400, "client_kind"),
            ({"name": "alpha-bot"}, 409, "already has an agent"),
        ],
    )
    def test_bad_agent_is_refused_and_nothing_is_written(self, alpha, body, status, mentions):
        with unchanged():
            response = human_client().post(API + "/projects/alpha/agents/", body, format="json")
            error = error_of(response, status)
        assert mentions in error["message"]

    def test_rotating_a_token_issues_a_new_one_and_the_old_one_stops_working(self, alpha):
        _, _, old = alpha
        response = human_client().post(API + "/projects/alpha/agents/alpha-bot/rotate")
        assert response.status_code == 200, response.content
        new = response.json()["token"]
        assert new != old
        assert all(new in snippet for snippet in response.json()["mcp_config"].values())
        error_of(agent_client(old).get(API + "/me"), 401)
        assert agent_client(new).get(API + "/me").status_code == 200
        assert Event.objects.filter(type="agent.token_rotated", subject="agent:alpha-bot").exists()

    def test_revoking_an_agent_disables_its_token(self, alpha):
        _, _, token = alpha
        response = human_client().post(API + "/projects/alpha/agents/alpha-bot/revoke")
        assert response.status_code == 200, response.content
        assert response.json()["is_active"] is False
        assert "token" not in response.json()
        error_of(agent_client(token).get(API + "/me"), 401)
        assert Event.objects.filter(type="agent.deactivated", subject="agent:alpha-bot").exists()

    @pytest.mark.parametrize("action", ["rotate", "revoke"])
    def test_rotating_or_revoking_an_unknown_agent_is_a_404(self, alpha, action):
        with unchanged():
            response = human_client().post(API + f"/projects/alpha/agents/ghost/{action}")
            error = error_of(response, 404, "unknown_agent")
        assert "ghost" in error["message"]

    @pytest.mark.parametrize("action", ["rotate", "revoke"])
    def test_an_agent_of_another_project_cannot_be_reached_through_this_one(self, alpha, action):
        make_agent(make_project(slug="other"), "other-bot")
        with unchanged():
            response = human_client().post(API + f"/projects/alpha/agents/other-bot/{action}")
            error_of(response, 404, "unknown_agent")

    def test_malformed_agent_name_in_the_url_is_a_404(self, alpha):
        with unchanged():
            response = human_client().post(API + "/projects/alpha/agents/bad%20name/revoke")
            error_of(response, 404, "not_found")


class TestMe:
    def test_agent_sees_itself_its_project_and_its_tasks_in_progress(self, alpha):
        project, _, token = alpha
        make_task(project, "T2")
        client = agent_client(token)
        client.post(API + "/projects/alpha/tasks/T1/claim")
        body = client.get(API + "/me").json()
        assert body["kind"] == "agent"
        assert body["name"] == "alpha-bot"
        assert body["project"] == {"slug": "alpha", "name": "Alpha"}
        assert [t["key"] for t in body["in_progress_tasks"]] == ["T1"]

    def test_human_sees_itself_without_a_project(self):
        body = human_client(username="ada").get(API + "/me").json()
        assert body == {
            "kind": "user",
            "name": "ada",
            "is_staff": True,
            "project": None,
            "in_progress_tasks": [],
            "roles": [],
        }

    def test_anonymous_caller_is_told_how_to_authenticate(self):
        error_of(APIClient().get(API + "/me"), 401, "not_authenticated")


class TestEvents:
    def test_events_come_oldest_first_with_their_payload(self, alpha):
        _, _, token = alpha
        body = agent_client(token).get(API + "/projects/alpha/events/").json()
        types = [e["type"] for e in body["results"]]
        assert types[0] == "project.created"
        assert types.index("task.added") < types.index("contract.added")
        added = next(e for e in body["results"] if e["type"] == "task.added")
        assert added["subject"] == "task:T1"
        assert added["payload"]["status"] == "ready"
        assert body["count"] == len(types)

    def test_another_projects_events_are_not_shown(self, alpha, beta_token):
        body = human_client().get(API + "/projects/alpha/events/").json()
        assert all(e["subject"] != "agent:beta-bot" for e in body["results"])

    def test_events_are_filtered_by_type_subject_actor_and_time(self, alpha):
        _, _, token = alpha
        client = agent_client(token)
        client.post(API + "/projects/alpha/tasks/T1/claim")
        claimed = Event.objects.get(type="task.claimed")
        url = API + "/projects/alpha/events/"
        assert [e["type"] for e in client.get(url + "?type=task.claimed").json()["results"]] == [
            "task.claimed"
        ]
        by_subject = client.get(url, {"subject": "task:T1"}).json()["results"]
        assert [e["type"] for e in by_subject] == ["task.added", "task.claimed"]
        by_actor = client.get(url, {"actor": "agent:alpha-bot"}).json()["results"]
        assert [e["type"] for e in by_actor] == ["task.claimed"]
        since = client.get(url, {"since": claimed.created_at.isoformat()}).json()["results"]
        assert [e["id"] for e in since] == [str(claimed.id)]

    def test_events_are_paginated(self, alpha):
        client = human_client()
        page = client.get(API + "/projects/alpha/events/?limit=2").json()
        assert len(page["results"]) == 2
        assert page["count"] > 2
        assert "offset=2" in page["next"]

    @pytest.mark.parametrize(
        ("query", "mentions"),
        [
            ({"since": "yesterday"}, "since"),
            ({"since": "2026-13-45T99:00"}, "since"),
            ({"typ": "task.added"}, "typ"),
            ({"type": "t" * 65}, "type"),
            ({"subject": "a\x00b"}, "Null characters"),
        ],
    )
    def test_bad_event_filters_are_refused(self, alpha, query, mentions):
        response = human_client().get(API + "/projects/alpha/events/", query)
        error = error_of(response, 400, "invalid")
        assert mentions in error["message"]


def test_responses_are_json_with_the_api_content_type(alpha):
    response = human_client().get(API + "/projects/alpha/")
    assert response["Content-Type"] == "application/json"
    json.loads(response.content)
