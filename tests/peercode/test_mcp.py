"""The MCP endpoint as a whole: the tool list and where its tools come from, who may connect,
from where, and what an agent sees when something breaks. The tools' own behaviour is in
``test_mcp_*.py`` beside this file.

The endpoint tests drive ``peercode.asgi.application`` with the SDK's own client, in each
client mode (see ``mcp_support``), or with raw HTTP where the status code is the point.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone
from django.utils.module_loading import module_has_submodule

from projects import services
from projects.models import Agent, Task
from tests.factories import SYSTEM
from tests.peercode.mcp_support import (
    CALL_OF_EACH_TOOL,
    HOW_TO_GET_A_TOKEN,
    TOOLS,
    Team,
    connect,
    content_of,
    db,
    error_of,
    initialize_request,
    mcp_error_in,
    raw_post,
    tool_call,
    unchanged,
)

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

READ_ONLY_TOOLS = ("whoami", "get_plan", "get_task", "get_contract")


class TestToolList:
    async def test_every_tool_is_listed_with_a_title_description_and_both_schemas(
        self, alpha: Team, mode: str
    ) -> None:
        async with connect(alpha.token, mode) as client:
            assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}

        assert set(TOOLS) <= set(tools)
        for name in TOOLS:
            tool = tools[name]
            assert tool.title, name
            # The model reads the description to choose the tool: it says what it does.
            assert len(tool.description or "") > 80, name
            assert tool.input_schema["type"] == "object", name
            assert tool.output_schema is not None, name
            assert tool.output_schema["type"] == "object", name
            # The token decides the project: no tool lets an agent name one.
            assert "project" not in tool.input_schema.get("properties", {}), name

    async def test_input_schemas_carry_the_documented_constraints(self, alpha: Team) -> None:
        async with connect(alpha.token, "auto") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}

        def inputs(name: str) -> dict[str, Any]:
            return tools[name].input_schema["properties"]

        assert inputs("whoami") == {}
        assert inputs("get_plan") == {}
        for name in ("get_task", "claim_task", "update_task"):
            key = inputs(name)["key"]
            assert (key["type"], key["minLength"], key["maxLength"]) == ("string", 1, 40)
            assert key["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]*$"
            assert "key" in tools[name].input_schema["required"]

        update = inputs("update_task")
        assert tools["update_task"].input_schema["required"] == ["key"]
        (status, _null) = update["status"]["anyOf"]
        assert set(status["enum"]) == {
            "backlog",
            "ready",
            "in_progress",
            "review",
            "blocked",
            "done",
        }
        assert update["note"]["maxLength"] == 2000
        (title, _null) = update["title"]["anyOf"]
        assert (title["minLength"], title["maxLength"]) == (1, 300)
        (description, _null) = update["description"]["anyOf"]
        assert description["maxLength"] == 20000
        (globs, _null) = update["file_globs"]["anyOf"]
        assert globs["maxItems"] == 200
        assert (globs["items"]["minLength"], globs["items"]["maxLength"]) == (1, 500)

        contract = inputs("get_contract")
        assert (contract["name"]["minLength"], contract["name"]["maxLength"]) == (1, 120)
        (version, _null) = contract["version"]["anyOf"]
        assert (version["type"], version["minimum"]) == ("integer", 1)
        assert tools["get_contract"].input_schema["required"] == ["name"]

        decompose = inputs("decompose_project")["description"]
        assert (decompose["minLength"], decompose["maxLength"]) == (1, 50000)

    async def test_output_schemas_describe_the_structured_content(self, alpha: Team) -> None:
        async with connect(alpha.token, "2026-07-28") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}

        def outputs(name: str) -> set[str]:
            schema = tools[name].output_schema
            assert schema is not None
            return set(schema["properties"])

        assert {"agent", "project", "current_task", "my_tasks", "ready_tasks"} <= outputs("whoami")
        assert {"phases", "waves", "critical_path", "ready", "collisions"} <= outputs("get_plan")
        for name in ("get_task", "claim_task", "update_task"):
            assert {"key", "status", "assignee", "depends_on", "provides", "consumes"} <= outputs(
                name
            )
        assert {"name", "owner_task", "current_version", "versions"} <= outputs("get_contract")
        assert {"run", "outcome", "tasks_created"} <= outputs("decompose_project")

    async def test_annotations_are_honest(self, alpha: Team) -> None:
        async with connect(alpha.token, "legacy") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        hints = {name: tools[name].annotations for name in TOOLS}

        for name in READ_ONLY_TOOLS:
            annotations = hints[name]
            assert annotations is not None
            assert annotations.read_only_hint is True, name
            assert annotations.destructive_hint is False, name
            assert annotations.open_world_hint is False, name
        claim = hints["claim_task"]
        assert claim is not None
        assert (claim.read_only_hint, claim.idempotent_hint) == (False, True)
        update = hints["update_task"]
        assert update is not None
        assert (update.read_only_hint, update.idempotent_hint) == (False, False)
        assert update.destructive_hint is False
        decompose = hints["decompose_project"]
        assert decompose is not None
        assert (decompose.read_only_hint, decompose.open_world_hint) == (False, True)


# Authentication ----------------------------------------------------------------------------


def bad_authorizations(team: Team) -> dict[str, dict[str, str]]:
    """Each kind of bad credentials, as the headers a client sends (revokes ``team.peer``)."""
    services.deactivate_agent(agent=team.peer, actor=SYSTEM)
    return {
        "missing": {},
        "not bearer": {"Authorization": "Basic Ym90OnB3"},
        "no token": {"Authorization": "Bearer"},
        "unknown token": {"Authorization": "Bearer pc_" + "x" * 43},
        "revoked token": {"Authorization": f"Bearer {team.peer_token}"},
    }


class TestAuthentication:
    async def test_without_a_valid_token_the_answer_is_a_401_that_says_how_to_get_one(
        self, alpha: Team
    ) -> None:
        for kind, headers in (await db(bad_authorizations, alpha)).items():
            async with unchanged():
                response = await raw_post(initialize_request(), token=None, headers=headers)

            assert response.status_code == 401, kind
            assert response.headers["www-authenticate"].startswith("Bearer "), kind
            assert response.headers["content-type"] == "application/json", kind
            body = response.json()
            assert body["jsonrpc"] == "2.0", kind
            assert body["error"]["code"] == -32001, kind
            message = body["error"]["message"]
            assert HOW_TO_GET_A_TOKEN in message, kind
            assert "Authorization: Bearer" in message, kind
            if kind in ("unknown token", "revoked token"):
                assert message.startswith("Unknown or revoked agent token."), kind

    async def test_no_tool_runs_without_a_valid_token(self, alpha: Team) -> None:
        """A 2026-07-28 client's first request is the tool call itself."""
        assert set(CALL_OF_EACH_TOOL) == set(TOOLS)
        for kind, credentials in (await db(bad_authorizations, alpha)).items():
            async with unchanged():
                for name, arguments in CALL_OF_EACH_TOOL.items():
                    body, headers = tool_call(name, arguments)
                    response = await raw_post(body, token=None, headers={**headers, **credentials})
                    assert response.status_code == 401, (kind, name)
                    assert HOW_TO_GET_A_TOKEN in response.json()["error"]["message"], (kind, name)

    async def test_the_sdk_client_raises_the_401_message(self, alpha: Team, mode: str) -> None:
        for kind, headers in (await db(bad_authorizations, alpha)).items():
            with pytest.raises(BaseException) as raised:  # noqa: PT011 - nested in groups
                async with connect(None, mode, headers) as client:
                    await client.call_tool("whoami", {})

            error = mcp_error_in(raised.value)
            assert error.code == -32001, kind
            assert HOW_TO_GET_A_TOKEN in error.message, kind

    async def test_a_token_revoked_mid_session_fails_the_next_call(
        self, alpha: Team, mode: str
    ) -> None:
        with pytest.raises(BaseException) as raised:  # noqa: PT011 - the client nests it in groups
            async with connect(alpha.token, mode) as client:
                content_of(await client.call_tool("whoami", {}))
                await db(services.deactivate_agent, agent=alpha.agent, actor=SYSTEM)
                await client.call_tool("whoami", {})

        assert mcp_error_in(raised.value).message.startswith("Unknown or revoked agent token.")

    async def test_every_call_refreshes_the_agents_last_seen_time(
        self, alpha: Team, mode: str
    ) -> None:
        long_ago = timezone.now() - timedelta(days=1)

        def make_last_seen_long_ago() -> None:
            Agent.objects.filter(pk=alpha.agent.pk).update(last_seen_at=long_ago)

        def last_seen() -> Any:
            return Agent.objects.get(pk=alpha.agent.pk).last_seen_at

        async with connect(alpha.token, mode) as client:
            # A legacy client sends its 'initialized' notification in the background; let the
            # handshake finish so that each refresh below is the call's own.
            content_of(await client.call_tool("whoami", {}))
            for name, arguments in [
                ("get_plan", {}),
                ("get_task", {"key": "NOPE"}),  # a refused call counts too
                ("claim_task", {"key": "P1-T1"}),
            ]:
                before = timezone.now()
                await db(make_last_seen_long_ago)
                await client.call_tool(name, arguments)
                assert await db(last_seen) >= before, name


# Where requests may come from ---------------------------------------------------------------


class TestHostAndOrigin:
    """The SDK's DNS-rebinding protection, fed from ALLOWED_HOSTS: a browser page on another
    origin must not drive a local PeerCode. Authentication runs first, so these requests carry a
    valid token (without one, any request is a 401)."""

    async def test_a_forbidden_origin_is_a_403(self, alpha: Team) -> None:
        async with unchanged():
            response = await raw_post(
                initialize_request(), token=alpha.token, headers={"Origin": "http://evil.example"}
            )
        assert response.status_code == 403
        assert "Origin" in response.text

    async def test_no_tool_runs_for_a_forbidden_origin(self, alpha: Team) -> None:
        async with unchanged():
            for name, arguments in CALL_OF_EACH_TOOL.items():
                body, headers = tool_call(name, arguments)
                response = await raw_post(
                    body, token=alpha.token, headers={**headers, "Origin": "http://evil.example"}
                )
                assert response.status_code == 403, name

    async def test_a_raw_call_from_an_allowed_origin_is_served(self, alpha: Team) -> None:
        """(So the refusals above are for the Origin, not for a malformed request.)"""
        body, headers = tool_call("get_task", {"key": "P1-T1"})
        response = await raw_post(
            body, token=alpha.token, headers={**headers, "Origin": "http://localhost:8000"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["result"]["structuredContent"]["key"] == "P1-T1"

    async def test_the_sdk_client_cannot_connect_from_a_forbidden_origin(
        self, alpha: Team, mode: str
    ) -> None:
        with pytest.raises(BaseException) as raised:  # noqa: PT011 - the client nests it in groups
            async with connect(alpha.token, mode, {"Origin": "http://evil.example"}) as client:
                await client.call_tool("claim_task", {"key": "P1-T1"})
        # The 403 body is plain text, so the client can only say the server refused.
        assert mcp_error_in(raised.value).message == "Server returned an error response"
        task = await db(Task.objects.get, project=alpha.project, key="P1-T1")
        assert task.assignee_id is None

    async def test_an_allowed_origin_is_served(self, alpha: Team, mode: str) -> None:
        async with connect(alpha.token, mode, {"Origin": "http://localhost:8000"}) as client:
            who = content_of(await client.call_tool("whoami", {}))
        assert who["agent"]["name"] == "bot"

    async def test_a_request_for_a_host_not_in_allowed_hosts_is_a_421(self, alpha: Team) -> None:
        """421 Misdirected Request: the SDK's answer to a Host header it does not serve (a
        DNS-rebinding attempt points a foreign name at this address)."""
        response = await raw_post(
            initialize_request(), token=alpha.token, headers={"Host": "evil.example"}
        )
        assert response.status_code == 421
        assert "Host" in response.text


# Where the tools come from -----------------------------------------------------------------


def apps_with_tools() -> list[str]:
    """The installed apps that have an ``mcp.py``."""
    return [app.name for app in apps.get_app_configs() if module_has_submodule(app.module, "mcp")]


class TestToolDiscovery:
    async def test_every_apps_mcp_module_is_imported_and_its_tools_are_listed(
        self, alpha: Team
    ) -> None:
        async with connect(alpha.token, "auto") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}

        assert {"projects", "deltas", "locks"} <= set(apps_with_tools())
        assert {"whoami", "push_delta", "acquire_lock"} <= names
        for app_name in apps_with_tools():
            module = sys.modules.get(f"{app_name}.mcp")
            assert module is not None, f"{app_name}.mcp was not discovered"
            # An app's mcp may be a module or a package whose submodules define the tools.
            modules = [
                loaded
                for loaded_name, loaded in list(sys.modules.items())
                if loaded_name == module.__name__ or loaded_name.startswith(module.__name__ + ".")
            ]
            defined_here = {
                name
                for name in names
                for each in modules
                if getattr(getattr(each, name, None), "__module__", None) == each.__name__
            }
            assert defined_here, f"{app_name}.mcp registers no listed tool"

    def test_no_apps_mcp_module_imports_another_apps(self) -> None:
        """Each app's tools stand on ``peercode.mcp`` alone: no module depends on another
        app's tools, whatever order discovery imports them in."""
        for app_name in apps_with_tools():
            spec = importlib.util.find_spec(f"{app_name}.mcp")
            assert spec is not None
            assert spec.origin is not None
            origin = Path(spec.origin)
            # A package's every module counts, not just its __init__.
            sources = (
                sorted(origin.parent.glob("*.py")) if origin.name == "__init__.py" else [origin]
            )
            imported: set[str] = set()
            for node in (n for src in sources for n in ast.walk(ast.parse(src.read_text()))):
                if isinstance(node, ast.Import):
                    imported |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            others = {f"{other}.mcp" for other in apps_with_tools() if other != app_name}
            assert not imported & others, f"{app_name}.mcp imports {imported & others}"


# When something breaks ----------------------------------------------------------------------


class TestUnexpectedErrors:
    async def test_an_unexpected_error_is_logged_and_the_agent_gets_no_traceback(
        self, alpha: Team, mode: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        # A row no PeerCode code path writes (file globs must be a list): reading it fails in a
        # way no service anticipates.
        await db(
            lambda: Task.objects.filter(project=alpha.project, key="P1-T2").update(file_globs=5)
        )
        async with connect(alpha.token, mode) as client:
            with caplog.at_level(logging.ERROR, logger="peercode.mcp.shared"):
                result = await client.call_tool("get_task", {"key": "P1-T2"})
            # The endpoint keeps serving.
            content_of(await client.call_tool("get_task", {"key": "P1-T1"}))

        text = error_of(result)
        assert "unexpected error" in text
        assert "has been logged" in text
        assert "TypeError" not in text
        assert "file_globs" not in text
        (logged,) = [r for r in caplog.records if r.name == "peercode.mcp.shared"]
        assert logged.exc_info is not None
        assert logged.exc_info[0] is TypeError
