from __future__ import annotations

import pytest

from tests.factories import make_contract, make_project, make_task, make_user

pytestmark = pytest.mark.django_db


def test_dashboard_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_project_list_shows_every_project_to_a_human(client):
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
