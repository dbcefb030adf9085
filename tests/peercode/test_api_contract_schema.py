"""The OpenAPI schema says what contract responses really carry: a contract without a version
yet has ``latest_version: null``, so the schema allows null there."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import make_agent, make_contract, make_project
from tests.projects.api_support import API, agent_client

pytestmark = pytest.mark.django_db


def test_latest_version_is_a_nullable_integer_in_the_schema_and_null_before_a_first_version():
    project = make_project(slug="alpha")
    make_contract(project, "Billing", spec=None)
    _, token = make_agent(project, "bot")

    [contract] = agent_client(token).get(API + "/projects/alpha/contracts/").json()["results"]
    assert contract["latest_version"] is None

    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    field = schema["components"]["schemas"]["ContractOut"]["properties"]["latest_version"]
    assert field["type"] == "integer"
    assert field["nullable"] is True
