"""Per-caller rate limits: the limiter itself, and how REST and MCP refuse a caller over its
limit (the WebSocket consumer's use of it is tested with the consumer)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from mcp.shared.exceptions import MCPError
from rest_framework.test import APIClient

from locks.models import Lock
from peercode.ratelimit import Refusal, atake, refusal_message, take
from peercode.settings import env_rate
from tests.factories import make_agent, make_project, make_user
from tests.peercode.mcp_support import Team, connect, raw_post, tool_call
from tests.projects.api_support import API, agent_client, error_of

# Small limits over a window far longer than any test, so no window closes mid-test.
HOUR = 3600
SMALL = {"rest": (3, HOUR), "mcp": (3, HOUR), "ws": (3, HOUR)}


@pytest.fixture
def small_limits(settings: Any) -> None:
    settings.PEERCODE_RATE_LIMITS = SMALL


@pytest.mark.usefixtures("small_limits")
class TestLimiter:
    def test_a_caller_gets_its_limit_then_a_refusal_saying_when_to_retry(self) -> None:
        assert [take("agent-a", "ws") for _ in range(3)] == [None, None, None]
        refusal = take("agent-a", "ws")
        assert refusal is not None
        assert (refusal.scope, refusal.limit, refusal.window_seconds) == ("ws", 3, HOUR)
        assert 1 <= refusal.retry_after <= HOUR
        # Still refused: a refusal counts too, so hammering does not reopen the door.
        assert take("agent-a", "ws") is not None

    def test_callers_and_scopes_are_counted_apart(self) -> None:
        for _ in range(3):
            take("agent-a", "rest")
        assert take("agent-a", "rest") is not None
        assert take("agent-b", "rest") is None
        assert take("agent-a", "mcp") is None

    def test_a_scope_turned_off_is_not_limited(self, settings: Any) -> None:
        settings.PEERCODE_RATE_LIMITS = {**SMALL, "rest": None}
        assert all(take("agent-a", "rest") is None for _ in range(50))

    def test_the_message_names_the_limit_the_wait_and_how_to_raise_it(self) -> None:
        message = refusal_message(Refusal(scope="mcp", limit=3, window_seconds=60, retry_after=7))
        assert "at most 3 MCP messages per 60 seconds" in message
        assert "Retry in 7 seconds" in message
        assert "PEERCODE_RATE_LIMIT_MCP" in message

    def test_concurrent_requests_never_let_more_than_the_limit_through(self, settings: Any) -> None:
        settings.PEERCODE_RATE_LIMITS = {**SMALL, "rest": (37, HOUR)}
        allowed: list[bool] = []
        start = threading.Barrier(10)

        def caller() -> None:
            start.wait()
            for _ in range(10):
                allowed.append(take("busy-agent", "rest") is None)

        threads = [threading.Thread(target=caller) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert allowed.count(True) == 37

    @pytest.mark.anyio
    async def test_the_async_form_counts_in_the_same_window(self) -> None:
        take("agent-a", "ws")
        take("agent-a", "ws")
        assert await atake("agent-a", "ws") is None
        assert await atake("agent-a", "ws") is not None


class TestRateSettings:
    @pytest.mark.parametrize(
        ("value", "parsed"),
        [
            ("600/minute", (600, 60)),
            ("10/second", (10, 1)),
            ("5000/hour", (5000, 3600)),
            ("20/30", (20, 30)),
            ("off", None),
            ("0", None),
        ],
    )
    def test_a_rate_is_a_count_per_period_or_off(
        self, monkeypatch: pytest.MonkeyPatch, value: str, parsed: Any
    ) -> None:
        monkeypatch.setenv("PEERCODE_RATE_LIMIT_REST", value)
        assert env_rate("PEERCODE_RATE_LIMIT_REST", "1/minute") == parsed

    @pytest.mark.parametrize("value", ["lots", "600", "600/fortnight", "-1/minute", "0/minute"])
    def test_a_bad_rate_stops_the_server_saying_what_to_write(
        self, monkeypatch: pytest.MonkeyPatch, value: str
    ) -> None:
        monkeypatch.setenv("PEERCODE_RATE_LIMIT_REST", value)
        with pytest.raises(ImproperlyConfigured, match="PEERCODE_RATE_LIMIT_REST must look like"):
            env_rate("PEERCODE_RATE_LIMIT_REST", "1/minute")


@pytest.fixture
def alpha_agents(db: None) -> tuple[str, str]:
    project = make_project(slug="alpha")
    _, ann = make_agent(project, "ann")
    _, bob = make_agent(project, "bob")
    return ann, bob


@pytest.mark.usefixtures("small_limits")
class TestRest:
    def test_over_the_limit_an_agent_gets_429_retry_after_and_the_standard_error(
        self, alpha_agents: tuple[str, str]
    ) -> None:
        client = agent_client(alpha_agents[0])
        for _ in range(3):
            assert client.get(API + "/me").status_code == 200
        response = client.get(API + "/me")
        error = error_of(response, 429, "rate_limited")
        assert 1 <= int(response["Retry-After"]) <= HOUR
        assert "Retry in" in error["message"]
        assert "PEERCODE_RATE_LIMIT_REST" in error["message"]
        assert error["details"] == {
            "scope": "rest",
            "limit": 3,
            "window_seconds": HOUR,
            "retry_after": int(response["Retry-After"]),
        }

    def test_a_refused_request_changes_nothing(self, alpha_agents: tuple[str, str]) -> None:
        client = agent_client(alpha_agents[0])
        for _ in range(3):
            client.get(API + "/me")
        response = client.post(
            API + "/projects/alpha/locks/", {"path": "src/auth.py"}, format="json"
        )
        assert response.status_code == 429
        assert not Lock.objects.exists()

    def test_each_agent_has_its_own_allowance(self, alpha_agents: tuple[str, str]) -> None:
        ann, bob = alpha_agents
        for _ in range(4):
            agent_client(ann).get(API + "/me")
        assert agent_client(bob).get(API + "/me").status_code == 200

    def test_a_human_is_limited_by_account(self, db: None) -> None:
        client = APIClient()
        client.force_login(make_user())
        for _ in range(3):
            assert client.get(API + "/projects/").status_code == 200
        error_of(client.get(API + "/projects/"), 429, "rate_limited")

    def test_a_request_without_credentials_is_refused_by_authentication_not_counted(
        self, db: None
    ) -> None:
        for _ in range(5):
            assert APIClient().get(API + "/me").status_code == 401

    def test_the_openapi_schema_documents_429_on_every_operation(self, db: None) -> None:
        schema = APIClient().get("/api/schema/", {"format": "json"}).json()
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                assert "429" in operation["responses"], (method, path)


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
class TestMcp:
    async def test_over_the_limit_an_agent_gets_429_retry_after_and_a_json_rpc_error(
        self, alpha: Team, small_limits: None
    ) -> None:
        body, headers = tool_call("whoami", {})
        for _ in range(3):
            response = await raw_post(body, token=alpha.token, headers=headers)
            assert response.status_code == 200
        response = await raw_post(body, token=alpha.token, headers=headers)
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= HOUR
        error = response.json()["error"]
        assert error["code"] == -32029
        assert "Retry in" in error["message"]
        assert error["data"]["limit"] == 3
        # Another agent of the project is not held back.
        response = await raw_post(body, token=alpha.peer_token, headers=headers)
        assert response.status_code == 200

    async def test_the_sdk_client_reports_the_limit_to_the_agent(
        self, alpha: Team, small_limits: None
    ) -> None:
        async with connect(alpha.token, "2026-07-28") as client:
            with pytest.raises(MCPError) as raised:
                for _ in range(5):
                    await client.call_tool("whoami", {})
        assert raised.value.code == -32029
        assert "Rate limit reached" in raised.value.message
