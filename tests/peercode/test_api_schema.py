"""The OpenAPI description of the REST API, and the pages that render it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.projects.api_support import human_client

pytestmark = pytest.mark.django_db


def test_schema_generates_and_validates_without_a_single_warning(tmp_path: Path):
    target = tmp_path / "schema.yaml"
    # --fail-on-warn turns any warning (an unresolvable serializer, a missing annotation) into
    # an error, so every endpoint's request and response schemas are really described.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    paths = schema["paths"]
    assert "/api/v1/projects/{slug}/tasks/{key}/claim" in paths
    assert "/api/v1/projects/{slug}/contracts/{name}/versions" in paths
    assert "/api/v1/me" in paths
    assert schema["components"]["securitySchemes"]["agentToken"]["scheme"] == "bearer"


def test_every_operation_documents_its_errors_and_a_typed_success():
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    for path, operations in response.json()["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"401", "403"} <= set(responses), (method, path)
            success = [code for code in responses if code.startswith("2")]
            assert success, (method, path)
            assert responses[success[0]].get("content"), (method, path)
            if method in ("post", "patch") and "requestBody" in operation:
                assert operation["requestBody"]["content"]["application/json"]["schema"]


def test_swagger_and_redoc_pages_render():
    client = human_client()
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    assert client.get("/api/redoc/").status_code == 200


def test_browsable_api_renders_for_a_logged_in_human():
    response = human_client().get("/api/v1/projects/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
