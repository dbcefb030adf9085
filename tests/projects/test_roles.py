"""Human roles: a project's members see and steer it by role, one check per action.

Each row of the table is one action over REST; every role is tried on it. A refused call is a
403 that names the role it needs (or, for someone who is not a member, the same 404 as for a
project that does not exist) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from locks import services as lock_services
from peercode.actors import Actor
from peercode.permissions import Action, allows
from projects import services
from projects.models import Membership, Project, Role
from tests.factories import SYSTEM, make_agent, make_project, make_task, make_user
from tests.projects.api_support import API, error_of, human_client, member_client, unchanged

pytestmark = pytest.mark.django_db

ROLES = ("viewer", "lead", "admin")


@dataclass(frozen=True)
class Call:
    """One REST call on a project and the least role that may make it."""

    name: str
    method: str
    path: str
    needs: str
    body: Callable[[Project], Any] | None = None
    ok: int = 200


def _plan(project: Project) -> dict[str, Any]:
    return {"phases": [{"name": "Only", "tasks": [{"key": "N-1", "title": "New"}]}]}


CALLS = [
    Call("read the plan", "get", "plan/", "viewer"),
    Call("list agents", "get", "agents/", "viewer"),
    Call("read events", "get", "events/", "viewer"),
    Call("add a phase", "post", "phases/", "lead", lambda p: {"name": "Later"}, 201),
    Call("rename a phase", "patch", "phases/1/", "lead", lambda p: {"name": "Renamed"}),
    Call(
        "add a task",
        "post",
        "tasks/",
        "lead",
        lambda p: {"key": "T-9", "title": "More", "phase": 1},
        201,
    ),
    Call("edit a task", "patch", "tasks/T-1/", "lead", lambda p: {"title": "Sharper"}),
    Call("move a task", "post", "tasks/T-1/status", "lead", lambda p: {"status": "blocked"}),
    Call("add a contract", "post", "contracts/", "lead", lambda p: {"name": "NewAPI"}, 201),
    Call(
        "publish a contract version",
        "post",
        "contracts/AuthAPI/versions",
        "lead",
        lambda p: {"spec": "POST /login v2"},
        201,
    ),
    Call("create an agent", "post", "agents/", "lead", lambda p: {"name": "fresh"}, 201),
    Call("rotate a token", "post", "agents/worker/rotate", "lead", lambda p: {}),
    Call("revoke a token", "post", "agents/worker/revoke", "lead", lambda p: {}),
    Call("change settings", "patch", "", "admin", lambda p: {"name": "Renamed project"}),
    Call("list members", "get", "members/", "viewer"),
    Call(
        "add a member",
        "post",
        "members/",
        "admin",
        lambda p: {"user": "newcomer", "role": "viewer"},
    ),
]


@pytest.fixture
def project() -> Project:
    project = make_project(slug="roles")
    services.add_phase(project=project, name="First", actor=SYSTEM)
    make_task(project, "T-1")
    services.add_contract(project=project, name="AuthAPI", spec="POST /login", actor=SYSTEM)
    make_agent(project, "worker")
    make_user(username="newcomer", staff=False)
    return project


def _call(client: APIClient, project: Project, call: Call) -> Any:
    url = f"{API}/projects/{project.slug}/{call.path}"
    body = call.body(project) if call.body else None
    return getattr(client, call.method)(url, body, format="json")


def _rank(role: str) -> int:
    return ROLES.index(role)


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.name)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_do_what_its_rank_allows_and_no_more(
    project: Project, call: Call, role: str
) -> None:
    client = member_client(project, role)
    if _rank(role) >= _rank(call.needs):
        response = _call(client, project, call)
        assert response.status_code == call.ok, response.content[:500]
        return
    with unchanged():
        error = error_of(_call(client, project, call), 403, "role_required")
    assert error["details"]["needs_role"] == call.needs
    assert "Ask an admin of the project" in error["message"]


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.name)
def test_staff_may_do_everything_without_a_membership(project: Project, call: Call) -> None:
    response = _call(human_client(staff=True), project, call)
    assert response.status_code == call.ok, response.content[:500]


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.name)
def test_a_human_who_is_not_a_member_cannot_even_see_the_project(
    project: Project, call: Call
) -> None:
    with unchanged():
        error = error_of(_call(member_client(project, None), project, call), 404)
    assert "not one of its members" in error["message"]


def test_a_human_lists_only_the_projects_it_is_a_member_of(project: Project) -> None:
    make_project(slug="elsewhere")
    mine = member_client(project, "viewer").get(f"{API}/projects/").json()
    assert [row["slug"] for row in mine["results"]] == ["roles"]
    every = human_client(staff=True).get(f"{API}/projects/").json()
    assert {row["slug"] for row in every["results"]} == {"roles", "elsewhere"}


def test_me_shows_a_humans_roles(project: Project) -> None:
    body = member_client(project, "lead").get(f"{API}/me").json()
    assert body["roles"] == [
        {
            "project": "roles",
            "user": body["name"],
            "role": "lead",
            "created_at": body["roles"][0]["created_at"],
        }
    ]


class TestCreatingProjects:
    def test_a_plain_user_may_not(self) -> None:
        with unchanged():
            error = error_of(
                human_client(staff=False).post(
                    f"{API}/projects/", {"slug": "mine", "name": "Mine"}, format="json"
                ),
                403,
                "role_required",
            )
        assert "projects.add_project" in error["message"]

    def test_a_user_with_the_permission_may_and_becomes_its_admin(self) -> None:
        from django.contrib.auth.models import Permission

        user = make_user(username="founder", staff=False)
        user.user_permissions.add(Permission.objects.get(codename="add_project"))
        client = APIClient()
        client.force_login(user)
        response = client.post(f"{API}/projects/", {"slug": "mine", "name": "Mine"}, format="json")
        assert response.status_code == 201, response.content
        membership = Membership.objects.get(project__slug="mine")
        assert (membership.user, membership.role) == (user, Role.ADMIN)
        # ... so it can steer its own project at once.
        settings_change = client.patch(f"{API}/projects/mine/", {"name": "Ours"}, format="json")
        assert settings_change.status_code == 200


class TestMembers:
    def admin_of(self, project: Project) -> APIClient:
        return member_client(project, "admin")

    def test_an_admin_adds_changes_and_removes_a_member(self, project: Project) -> None:
        client = self.admin_of(project)
        members = f"{API}/projects/{project.slug}/members/"
        added = client.post(members, {"user": "newcomer", "role": "viewer"}, format="json")
        assert added.json()["role"] == "viewer"
        changed = client.patch(members + "newcomer/", {"role": "lead"}, format="json")
        assert changed.json()["role"] == "lead"
        newcomer = get_user_model().objects.get(username="newcomer")
        assert allows(Actor.for_user(newcomer), Action.CHANGE_PLAN, project)
        assert client.delete(members + "newcomer/").json()["role"] == "lead"
        assert not allows(Actor.for_user(newcomer), Action.VIEW, project)
        kinds = list(
            project.events.filter(type__startswith="member.").values_list("type", flat=True)
        )
        assert kinds == ["member.added", "member.role_changed", "member.removed"]

    def test_the_last_admin_cannot_be_demoted_or_removed(self, project: Project) -> None:
        client = self.admin_of(project)
        me = get_user_model().objects.get(pk=client.session["_auth_user_id"])
        url = f"{API}/projects/{project.slug}/members/{me.username}/"
        with unchanged():
            error_of(client.patch(url, {"role": "lead"}, format="json"), 409, "last_admin")
            error_of(client.delete(url), 409, "last_admin")

    def test_unknown_users_and_roles_are_clear_errors(self, project: Project) -> None:
        client = self.admin_of(project)
        members = f"{API}/projects/{project.slug}/members/"
        with unchanged():
            error_of(client.post(members, {"user": "nobody", "role": "lead"}, format="json"), 404)
            error = error_of(
                client.post(members, {"user": "newcomer", "role": "owner"}, format="json"), 400
            )
        assert "role" in error["details"]["fields"]

    def test_agents_cannot_see_or_manage_members(self, project: Project) -> None:
        _, token = make_agent(project, "curious")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        error_of(client.get(f"{API}/projects/{project.slug}/members/"), 403, "humans_only")


class TestSteering:
    """Force-releasing locks and deciding debates are a lead's, checked in the services."""

    def test_a_lead_force_releases_a_lock_and_a_viewer_may_not(self, project: Project) -> None:
        agent, _ = make_agent(project, "holder")
        lock = lock_services.acquire_lock(agent=agent, path="src/app.py").lock
        viewer = Membership.objects.create(
            project=project, user=make_user(staff=False), role=Role.VIEWER
        ).user
        from peercode.errors import PermissionDenied

        with pytest.raises(PermissionDenied) as refused:
            lock_services.force_release(actor=Actor.for_user(viewer), lock_id=lock.pk)
        assert refused.value.details["needs_role"] == "lead"
        lead = Membership.objects.create(
            project=project, user=make_user(staff=False), role=Role.LEAD
        ).user
        released = lock_services.force_release(actor=Actor.for_user(lead), lock_id=lock.pk)
        assert released.status == "released"


def test_a_role_in_one_project_gives_nothing_in_another(project: Project) -> None:
    other = make_project(slug="other")
    services.add_phase(project=other, name="First", actor=SYSTEM)
    client = member_client(project, "admin")
    with unchanged():
        error_of(
            client.post(f"{API}/projects/other/phases/", {"name": "Sneaky"}, format="json"), 404
        )


class TestMembersInTheAdmin:
    """Staff manage members in the admin through the same services, held to the same rules."""

    def test_staff_add_a_member_and_the_change_is_recorded(
        self, project: Project, client: Any
    ) -> None:
        client.force_login(make_user(username="operator"))
        newcomer = get_user_model().objects.get(username="newcomer")
        response = client.post(
            "/admin/projects/membership/add/",
            {"project": project.pk, "user": newcomer.pk, "role": "lead"},
        )
        assert response.status_code == 302, response.content[:2000]
        assert Membership.objects.get(project=project, user=newcomer).role == "lead"
        event = project.events.get(type="member.added")
        assert (event.actor, event.payload) == ("user:operator", {"role": "lead"})

    def test_the_last_admin_stays_and_the_admin_says_why(
        self, project: Project, client: Any
    ) -> None:
        client.force_login(make_user(username="operator"))
        only = Membership.objects.create(
            project=project, user=make_user(staff=False), role=Role.ADMIN
        )
        response = client.post(
            f"/admin/projects/membership/{only.pk}/delete/", {"post": "yes"}, follow=True
        )
        page = response.content.decode()
        assert "is the last admin of project" in page
        assert "deleted successfully" not in page
        assert Membership.objects.filter(pk=only.pk).exists()
