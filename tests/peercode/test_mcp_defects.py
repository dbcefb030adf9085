"""Defects of the MCP endpoint found by issue 10: null for an optional text argument, the
database being down, GET on /mcp, and unknown prompt names."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from tests.db_support import database_unreachable
from tests.peercode.mcp_support import (
    ACCEPT,
    Team,
    connect,
    http_client,
    initialize_request,
    raw_post,
    text_of,
    tool_call,
)

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

# The required arguments of every tool that has an optional text argument: enough for the call
# to get past argument validation (it may still fail later, for a reason of the domain).
REQUIRED_ARGUMENTS: dict[str, dict[str, Any]] = {
    "update_task": {"key": "P1-T1"},
    "push_delta": {"kind": "discovery", "summary": "The cache is per process."},
    "open_debate": {"topic": "How AuthAPI reports errors"},
    "debate_turn": {
        "debate_id": 1,
        "client_key": "turn-1",
        "kind": "propose",
        "rationale": "Because.",
    },
    "get_debate": {"debate_id": 1},
    "list_debates": {},
    "acquire_lock": {"path": "app/models.py"},
    "list_locks": {},
    "request_push": {"paths": ["app/models.py"]},
    "push_status": {},
}


def optional_text_arguments(schema: dict[str, Any]) -> list[str]:
    """The arguments whose schema allows both a string and null."""
    names = []
    for name, argument in schema.get("properties", {}).items():
        types = {branch.get("type") for branch in argument.get("anyOf", [])}
        if {"string", "null"} <= types:
            names.append(name)
    return names


class TestNullForAnOptionalTextArgument:
    async def test_every_tool_takes_null_for_each_optional_text_argument(self, alpha: Team) -> None:
        failures = []
        async with connect(alpha.token, "2026-07-28") as client:
            tools = (await client.list_tools()).tools
            for tool in tools:
                for name in optional_text_arguments(tool.input_schema):
                    assert tool.name in REQUIRED_ARGUMENTS, f"add {tool.name} to the table"
                    arguments = {**REQUIRED_ARGUMENTS[tool.name], name: None}
                    result = await client.call_tool(tool.name, arguments)
                    text = text_of(result) if result.is_error else ""
                    # A crash reads exactly "Error executing tool <name>"; a refused argument
                    # names its validation error.
                    if text == f"Error executing tool {tool.name}" or "validation error" in text:
                        failures.append(f"{tool.name}({name}=null): {text}")
        assert failures == []
        # The three calls the issue names are among those checked.
        checked = {t.name: optional_text_arguments(t.input_schema) for t in tools}
        assert "path" in checked["list_locks"]
        assert "branch" in checked["request_push"]
        assert "branch" in checked["push_status"]

    async def test_null_means_the_same_as_leaving_the_argument_out(self, alpha: Team) -> None:
        async with connect(alpha.token, "2026-07-28") as client:
            for tool, argument in (("list_locks", "path"), ("push_status", "branch")):
                given = await client.call_tool(tool, {argument: None})
                omitted = await client.call_tool(tool, {})
                assert not given.is_error, text_of(given)
                assert given.structured_content == omitted.structured_content

    async def test_nul_in_an_optional_text_argument_is_still_refused(self, alpha: Team) -> None:
        async with connect(alpha.token, "2026-07-28") as client:
            result = await client.call_tool("list_locks", {"path": "app/\x00.py"})
        assert result.is_error
        assert "NUL" in text_of(result)


class TestDatabaseDown:
    async def test_a_request_is_answered_503_with_retry_after_and_a_json_rpc_error(
        self, alpha: Team
    ) -> None:
        body, headers = tool_call("whoami", {})
        with database_unreachable():
            response = await raw_post(body, token=alpha.token, headers=headers)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        assert int(response.headers["retry-after"]) >= 1
        error = response.json()["error"]
        assert error["code"] == -32053
        assert "cannot reach its database" in error["message"]
        assert "Retry in" in error["message"]

    async def test_the_sdk_client_sees_the_message(self, alpha: Team) -> None:
        async with connect(alpha.token, "2026-07-28") as client:
            with database_unreachable(), pytest.raises(MCPError) as raised:
                await client.call_tool("whoami", {})
            assert raised.value.code == -32053
            assert "cannot reach its database" in raised.value.message
            # Once the database is back, the same client carries on.
            assert not (await client.call_tool("whoami", {})).is_error


class TestOnlyPost:
    @pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
    async def test_other_methods_are_refused_with_405_and_allow_post(
        self, alpha: Team, method: str
    ) -> None:
        async with http_client(alpha.token) as client:
            response = await client.request(method, "/mcp", headers={"Accept": ACCEPT})
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        error = response.json()["error"]
        assert "Send each JSON-RPC message as a POST" in error["message"]

    async def test_get_answers_at_once_even_without_a_token(self) -> None:
        # A GET once opened an event stream that never carried anything and never ended.
        async with http_client(None) as client:
            response = await client.get("/mcp", headers={"Accept": "text/event-stream"})
        assert response.status_code == 405

    async def test_post_still_works(self, alpha: Team) -> None:
        response = await raw_post(initialize_request(), token=alpha.token)
        assert response.status_code == 200


class TestUnknownPrompt:
    async def test_an_unknown_prompt_is_invalid_params_with_a_clear_message(
        self, alpha: Team, mode: str
    ) -> None:
        async with connect(alpha.token, mode) as client:
            with pytest.raises(MCPError) as raised:
                await client.get_prompt("review_code", {})
        assert raised.value.code == INVALID_PARAMS
        assert "Unknown prompt 'review_code'" in raised.value.message
        assert "tools/list" in raised.value.message
