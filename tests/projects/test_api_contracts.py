"""REST API: contracts and their numbered versions.

Adding a contract is a human lead's (agents are refused: see ``test_plan_by_agents.py``); a
version is published by the contract's owner (the agent holding its owner task) or a human
lead, and reaches every consumer as a ``contract_change`` delta.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from deltas.models import Delta
from peercode.events.models import Event
from projects import services
from projects.models import Contract
from tests.factories import make_agent, make_contract, make_project, make_task
from tests.projects.api_support import (
    API,
    agent_client,
    error_of,
    human_client,
    member_client,
    unchanged,
)

pytestmark = pytest.mark.django_db

CONTRACTS = API + "/projects/alpha/contracts/"


@pytest.fixture
def alpha():
    """Project 'alpha': task T1 provides AuthAPI (v1), task T2 consumes it; agent 'bot'."""
    project = make_project(slug="alpha")
    make_task(project, "T1")
    make_contract(project, "AuthAPI", owner="T1", spec="POST /login -> token")
    make_task(project, "T2", consumes=["AuthAPI"])
    _, token = make_agent(project, "bot")
    return project, token


@pytest.fixture
def owner(alpha):
    """As ``alpha``, with 'bot' holding T1 and so owning (publishing) AuthAPI."""
    project, token = alpha
    services.claim_task(agent=project.agents.get(name="bot"), task_key="T1")
    return project, token


class TestContractList:
    def test_contracts_are_listed_with_owner_consumers_and_latest_version(self, alpha):
        project, token = alpha
        make_contract(project, "Billing", spec=None)
        body = agent_client(token).get(CONTRACTS).json()
        assert body["count"] == 2
        auth, billing = body["results"]
        assert auth["name"] == "AuthAPI"
        assert auth["owner_task"] == "T1"
        assert auth["consumers"] == ["T2"]
        assert auth["latest_version"] == 1
        assert billing["latest_version"] is None
        assert billing["owner_task"] is None


class TestContractCreate:
    def test_a_lead_adds_a_contract_with_its_first_version(self, alpha):
        project, _ = alpha
        response = member_client(project, "lead").post(
            CONTRACTS,
            {
                "name": "Orders: v1/API",
                "kind": "schema",
                "description": "Order rows.",
                "owner_task": "T2",
                "spec": "  Order(id, total)\n",
                "rationale": "First cut.",
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["name"] == "Orders: v1/API"
        assert body["kind"] == "schema"
        assert body["owner_task"] == "T2"
        assert [v["number"] for v in body["versions"]] == [1]
        # The spec is kept exactly as sent: whitespace can matter in an interface.
        assert body["versions"][0]["spec"] == "  Order(id, total)\n"
        lead = project.memberships.get(role="lead").user
        assert body["versions"][0]["author"] == f"user:{lead.username}"
        types = Event.objects.filter(subject="contract:Orders: v1/API").values_list(
            "type", flat=True
        )
        assert sorted(types) == ["contract.added", "contract.version_published"]

    def test_a_contract_without_a_spec_has_no_version_yet(self, alpha):
        response = human_client().post(CONTRACTS, {"name": "Later"}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["versions"] == []
        assert response.json()["latest_version"] is None

    @pytest.mark.parametrize(
        ("body", "status", "mentions"),
        [
            ({}, 400, "name"),
            ({"name": "bad|name"}, 400, "contract name"),
            ({"name": "-leading"}, 400, "contract name"),
            ({"name": "x" * 121}, 400, "name"),
            ({"name": "New", "kind": "rpc"}, 400, "api, function, schema, event, other"),
            ({"name": "New", "owner_task": "T9"}, 400, "T9"),
            ({"name": "New", "spec": ""}, 400, "spec"),
            ({"name": "New", "spec": "   "}, 400, "cannot be empty"),
            ({"name": "New", "spec": "s" * 200_001}, 400, "spec"),
            ({"name": "New", "spec": ["a", "b"]}, 400, "spec"),
            ({"name": "AuthAPI"}, 409, "already has a contract 'AuthAPI'"),
        ],
    )
    def test_bad_contract_is_refused_and_nothing_is_written(self, alpha, body, status, mentions):
        with unchanged():
            error = error_of(human_client().post(CONTRACTS, body, format="json"), status)
        assert mentions in error["message"]


class TestContractDetail:
    def test_contract_shows_every_version_oldest_first(self, owner):
        _, token = owner
        client = agent_client(token)
        published = client.post(
            CONTRACTS + "AuthAPI/versions", {"spec": "v2", "rationale": "why"}, format="json"
        )
        assert published.status_code == 201, published.content
        body = client.get(CONTRACTS + "AuthAPI/").json()
        assert [(v["number"], v["spec"]) for v in body["versions"]] == [
            (1, "POST /login -> token"),
            (2, "v2"),
        ]
        assert body["latest_version"] == 2

    @pytest.mark.parametrize("name", ["Auth API", "ns:Auth", "auth/v2", "a b/c:d/versions"])
    def test_names_with_spaces_colons_and_slashes_are_reachable(self, alpha, name):
        project, token = alpha
        make_contract(project, name, spec="s1")
        detail = agent_client(token).get(CONTRACTS + quote(name) + "/")
        assert detail.status_code == 200, detail.content
        assert detail.json()["name"] == name
        # The contract has no owner task, so a human lead publishes its next version.
        published = human_client().post(
            CONTRACTS + quote(name) + "/versions", {"spec": "s2"}, format="json"
        )
        assert published.status_code == 201, published.content
        assert Contract.objects.get(name=name).versions.count() == 2

    @pytest.mark.parametrize("name", ["Nope", "bad%7Cname", "%00"])
    def test_unknown_or_malformed_contract_is_a_404(self, alpha, name):
        error_of(human_client().get(CONTRACTS + f"{name}/"), 404)


class TestPublishVersion:
    def test_publishing_numbers_versions_without_gaps(self, owner):
        project, token = owner
        client = agent_client(token)
        bodies = [
            client.post(CONTRACTS + "AuthAPI/versions", {"spec": f"v{n}"}, format="json").json()
            for n in (2, 3)
        ]
        assert [body["number"] for body in bodies] == [2, 3]
        # Each version reached the consumers as its own breaking contract_change delta.
        deltas = [Delta.objects.get(project=project, seq=body["delta_seq"]) for body in bodies]
        assert [(d.kind, d.significance, d.contract_version.number) for d in deltas] == [
            ("contract_change", "breaking", 2),
            ("contract_change", "breaking", 3),
        ]
        event = Event.objects.filter(type="contract.version_published").order_by("-created_at")[0]
        assert event.payload["version"] == 3
        assert event.actor == "agent:bot"

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({}, "spec"),
            ({"spec": ""}, "spec"),
            ({"spec": "\n\t "}, "cannot be empty"),
            ({"spec": None}, "spec"),
            ({"spec": {"a": 1}}, "spec"),
            ({"spec": "s" * 200_001}, "200000"),
            ({"spec": "ok", "number": 7}, "Unknown field 'number'"),
        ],
    )
    def test_bad_version_is_refused_and_nothing_is_written(self, owner, body, mentions):
        _, token = owner
        with unchanged():
            response = agent_client(token).post(CONTRACTS + "AuthAPI/versions", body, format="json")
            error = error_of(response, 400)
        assert mentions in error["message"]

    def test_publishing_to_an_unknown_contract_is_a_404(self, alpha):
        with unchanged():
            response = human_client().post(
                CONTRACTS + "Nope/versions", {"spec": "x"}, format="json"
            )
            error_of(response, 404, "unknown_contract")
