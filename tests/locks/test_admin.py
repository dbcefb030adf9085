"""Locks and push tickets in the Django admin, used through Django's test client as a logged-in
staff human: history to read and filter, no direct edits, and the force-release and
take-out-of-line actions, which go through the services and record who used them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from locks import push, services
from locks.models import Lock, LockStatus, PushStatus, PushTicket
from peercode.actors import Actor
from peercode.events.models import Event
from projects.models import Agent, Project
from tests.factories import make_agent, make_project, make_user

pytestmark = pytest.mark.django_db

PATH = "src/auth.py"


@pytest.fixture
def client() -> Client:
    client = Client()
    client.force_login(make_user(username="ada"))
    return client


@pytest.fixture
def project() -> Project:
    return make_project(slug="shop")


@pytest.fixture
def ann(project: Project) -> Agent:
    return make_agent(project, "ann")[0]


@pytest.fixture
def bob(project: Project) -> Agent:
    return make_agent(project, "bob")[0]


def acquire(agent: Agent, **spec: Any) -> Lock:
    return services.acquire_lock(agent=agent, **{"path": PATH, **spec}).lock


def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def results(client: Client, model: type[Model], query: str = "") -> list[Any]:
    response = client.get(admin_url(model, "changelist") + query)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def run_action(client: Client, model: type[Model], action: str, pks: list[int]) -> Any:
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


class TestPagesRender:
    def test_lock_changelist_and_view_page_render(self, client: Client, ann: Agent) -> None:
        lock = acquire(ann, scope="lines", start_line=3, end_line=9)
        listing = client.get(admin_url(Lock, "changelist"))
        assert listing.status_code == 200
        assert "lines 3-9" in listing.content.decode()
        page = client.get(admin_url(Lock, "change", lock.pk))
        assert page.status_code == 200
        content = page.content.decode()
        assert 'name="_save"' not in content
        assert f"subject=lock:{lock.pk}" in content

    def test_ticket_changelist_and_view_page_render(self, client: Client, ann: Agent) -> None:
        ticket = push.request_push(agent=ann).ticket
        assert client.get(admin_url(PushTicket, "changelist")).status_code == 200
        page = client.get(admin_url(PushTicket, "change", ticket.pk))
        assert page.status_code == 200
        assert f"subject=push:{ticket.pk}" in page.content.decode()

    def test_the_index_lists_locks_and_push_tickets(self, client: Client) -> None:
        content = client.get(reverse("admin:index")).content.decode()
        assert admin_url(Lock, "changelist") in content
        assert admin_url(PushTicket, "changelist") in content

    def test_the_events_link_finds_the_locks_history(self, client: Client, ann: Agent) -> None:
        lock = acquire(ann)
        found = results(client, Event, f"?subject=lock:{lock.pk}")
        assert [event.type for event in found] == ["lock.granted"]


class TestNoDirectEdits:
    @pytest.mark.parametrize("model", [Lock, PushTicket])
    def test_rows_cannot_be_added_changed_or_deleted(
        self, client: Client, ann: Agent, model: type[Model]
    ) -> None:
        acquire(ann)
        push.request_push(agent=ann)
        obj = model._default_manager.get()
        before = list(model._default_manager.values())
        assert client.get(admin_url(model, "add")).status_code == 403
        assert client.post(admin_url(model, "change", obj.pk), {"status": "x"}).status_code == 403
        assert client.get(admin_url(model, "delete", obj.pk)).status_code == 403
        assert client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
        assert list(model._default_manager.values()) == before

    def test_the_bulk_delete_action_is_not_offered(self, client: Client, ann: Agent) -> None:
        acquire(ann)
        actions = client.get(admin_url(Lock, "changelist")).context["action_form"]
        choices = [name for name, _ in actions.fields["action"].choices]
        assert "delete_selected" not in choices
        assert "force_release_locks" in choices


class TestFilters:
    def test_locks_filter_by_project_status_mode_and_scope(
        self, client: Client, project: Project, ann: Agent, bob: Agent
    ) -> None:
        shared = acquire(ann, path="a.py", mode="shared")
        lines = acquire(bob, path="b.py", scope="lines", start_line=1, end_line=2)
        gone = acquire(ann, path="c.py")
        services.release_lock(actor=Actor.for_agent(ann), lock_id=gone.pk)
        other, _ = make_agent(make_project(slug="other"), "cy")
        elsewhere = acquire(other)

        def pks(query: str) -> set[int]:
            return {lock.pk for lock in results(client, Lock, query)}

        assert pks(f"?project__id__exact={project.pk}") == {shared.pk, lines.pk, gone.pk}
        assert pks("?status__exact=released") == {gone.pk}
        assert pks("?mode__exact=shared") == {shared.pk}
        assert pks("?scope__exact=lines") == {lines.pk}
        assert pks(f"?project__id__exact={other.project_id}") == {elsewhere.pk}

    def test_locks_are_found_by_path_and_by_holder(
        self, client: Client, ann: Agent, bob: Agent
    ) -> None:
        mine = acquire(ann, path="src/models.py")
        theirs = acquire(bob, path="src/views.py")
        assert [lock.pk for lock in results(client, Lock, "?q=models.py")] == [mine.pk]
        assert [lock.pk for lock in results(client, Lock, "?q=bob")] == [theirs.pk]

    def test_tickets_filter_by_status_and_branch_and_are_found_by_agent(
        self, client: Client, ann: Agent, bob: Agent
    ) -> None:
        first = push.request_push(agent=ann).ticket
        second = push.request_push(agent=bob, branch="release").ticket
        assert [t.pk for t in results(client, PushTicket, "?branch__exact=release")] == [second.pk]
        assert {t.pk for t in results(client, PushTicket, "?status__exact=active")} == {
            first.pk,
            second.pk,
        }
        assert [t.pk for t in results(client, PushTicket, "?q=bob")] == [second.pk]


class TestForceRelease:
    def test_it_releases_each_lock_and_records_who_did_it(
        self, client: Client, ann: Agent, bob: Agent
    ) -> None:
        first = acquire(ann)
        second = acquire(bob, path="b.py")

        response = run_action(client, Lock, "force_release_locks", [first.pk, second.pk])

        assert response.status_code == 200
        for lock in (first, second):
            lock.refresh_from_db()
            assert (lock.status, lock.released_by) == (LockStatus.RELEASED, "user:ada")
        events = Event.objects.filter(type="lock.force_released").order_by("created_at")
        assert [event.subject for event in events] == [f"lock:{first.pk}", f"lock:{second.pk}"]
        for event in events:
            assert event.actor == "user:ada"
            assert event.payload["by"] == "user:ada"
            assert event.payload["why"]
        reported = messages_of(response)
        assert any(f"lock #{first.pk}" in text and "ann" in text for text in reported)
        assert any(f"lock #{second.pk}" in text and "bob" in text for text in reported)

    def test_a_request_waiting_for_the_lock_is_granted(
        self, client: Client, ann: Agent, bob: Agent
    ) -> None:
        held = acquire(ann)
        waiting = services.acquire_lock(agent=bob, path=PATH, wait=True).lock

        run_action(client, Lock, "force_release_locks", [held.pk])

        waiting.refresh_from_db()
        assert waiting.status == LockStatus.HELD
        assert waiting.fencing_token is not None
        assert waiting.fencing_token > 1

    def test_each_lock_is_reported_on_its_own(self, client: Client, ann: Agent) -> None:
        live = acquire(ann)
        ended = acquire(ann, path="gone.py")
        services.release_lock(actor=Actor.for_agent(ann), lock_id=ended.pk)

        response = run_action(client, Lock, "force_release_locks", [ended.pk, live.pk])

        reported = messages_of(response)
        assert any(
            f"Lock #{ended.pk}" in text and "nothing to release" in text for text in reported
        )
        assert any(f"Force-released lock #{live.pk}" in text for text in reported)
        live.refresh_from_db()
        assert live.status == LockStatus.RELEASED
        assert Event.objects.filter(type="lock.force_released").count() == 1

    def test_staff_who_may_only_view_locks_are_not_offered_it(self, ann: Agent) -> None:
        viewer = make_user(username="viewer", staff=False)
        viewer.is_staff = True
        viewer.save()
        viewer.user_permissions.add(Permission.objects.get(codename="view_lock"))
        client = Client()
        client.force_login(viewer)
        lock = acquire(ann)

        assert client.get(admin_url(Lock, "changelist")).status_code == 200
        run_action(client, Lock, "force_release_locks", [lock.pk])

        lock.refresh_from_db()
        assert lock.status == LockStatus.HELD
        assert not Event.objects.filter(type="lock.force_released").exists()

    def test_staff_with_the_change_permission_may_use_it(self, ann: Agent) -> None:
        keeper = make_user(username="keeper", staff=False)
        keeper.is_staff = True
        keeper.save()
        keeper.user_permissions.add(
            *Permission.objects.filter(codename__in=["view_lock", "change_lock"])
        )
        client = Client()
        client.force_login(keeper)
        lock = acquire(ann)

        run_action(client, Lock, "force_release_locks", [lock.pk])

        lock.refresh_from_db()
        assert (lock.status, lock.released_by) == (LockStatus.RELEASED, "user:keeper")

    def test_people_who_are_not_staff_cannot_reach_the_admin(self, ann: Agent) -> None:
        client = Client()
        client.force_login(make_user(username="guest", staff=False))
        lock = acquire(ann)

        response = client.post(
            admin_url(Lock, "changelist"),
            {"action": "force_release_locks", "_selected_action": [str(lock.pk)]},
        )

        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]
        lock.refresh_from_db()
        assert lock.status == LockStatus.HELD


class TestTakeOutOfLine:
    def test_it_abandons_each_ticket_passes_the_turn_and_records_who(
        self, client: Client, ann: Agent, bob: Agent
    ) -> None:
        first = push.request_push(agent=ann).ticket
        second = push.request_push(agent=bob).ticket

        response = run_action(client, PushTicket, "abandon_tickets", [first.pk])

        first.refresh_from_db()
        second.refresh_from_db()
        assert (first.status, second.status) == (PushStatus.ABANDONED, PushStatus.ACTIVE)
        event = Event.objects.get(type="push.abandoned")
        assert (event.actor, event.subject) == ("user:ada", f"push:{first.pk}")
        assert any(f"ticket #{first.pk}" in text for text in messages_of(response))

    def test_a_closed_ticket_is_reported_and_left_alone(self, client: Client, ann: Agent) -> None:
        ticket = push.request_push(agent=ann).ticket
        push.abandon_push(actor=Actor.for_agent(ann), ticket_id=ticket.pk)

        response = run_action(client, PushTicket, "abandon_tickets", [ticket.pk])

        assert any("already abandoned" in text for text in messages_of(response))
        assert Event.objects.filter(type="push.abandoned").count() == 1
