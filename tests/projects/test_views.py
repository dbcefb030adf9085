from __future__ import annotations

import pytest

from projects.models import Membership, Role
from tests.factories import make_contract, make_project, make_task, make_user

pytestmark = pytest.mark.django_db


def test_dashboard_asks_anonymous_visitors_to_log_in_on_its_own_page(client):
    response = client.get("/projects/roadmap/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/projects/roadmap/"
    page = client.get(response["Location"]).content.decode()
    assert 'name="username"' in page
    assert 'name="password"' in page


def test_a_human_who_is_not_staff_logs_in_and_sees_only_its_projects(client):
    alpha = make_project(slug="alpha", name="Alpha")
    make_project(slug="beta", name="Beta")
    user = make_user(username="dana", staff=False, password="correct horse")
    Membership.objects.create(project=alpha, user=user, role=Role.VIEWER)
    response = client.post(
        "/login/", {"username": "dana", "password": "correct horse", "next": "/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    body = client.get("/").content.decode()
    assert "Alpha" in body
    assert "Beta" not in body
    assert client.get("/projects/beta/").status_code == 404
    assert client.get("/projects/alpha/").status_code == 200


def test_a_wrong_password_is_refused_with_the_reason_on_the_page(client):
    make_user(username="dana", staff=False, password="correct horse")
    response = client.post("/login/", {"username": "dana", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logging_out_ends_the_session(client):
    client.force_login(make_user(staff=False))
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_project_list_shows_every_project_to_staff(client):
    make_project(slug="alpha", name="Alpha")
    make_project(slug="beta", name="Beta")
    client.force_login(make_user())
    body = client.get("/").content.decode()
    assert "Alpha" in body
    assert "Beta" in body


def test_project_page_shows_the_roadmap_with_waves_and_the_critical_path(client):
    project = make_project(slug="roadmap", name="Roadmap")
    make_task(project, "P1-T1")
    make_task(project, "P1-T2")
    make_task(project, "P2-T1", phase=2, depends_on=["P1-T1"], estimate=3)
    make_contract(project, "AuthAPI", owner="P1-T1")
    client.force_login(make_user())
    body = client.get("/projects/roadmap/").content.decode()
    assert "2 waves" in body
    assert "P1-T1 → P2-T1" in body
    assert "AuthAPI" in body
    assert "provided by P1-T1" in body


def test_unknown_project_page_is_a_404_page(client):
    client.force_login(make_user())
    response = client.get("/projects/nope/")
    assert response.status_code == 404
    assert "No project &#x27;nope&#x27;" in response.content.decode()
