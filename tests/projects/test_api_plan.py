"""REST API: the plan as a whole (its shape, import, export) and decomposition.

Decomposition talks to a stand-in for the Anthropic Messages API: a real HTTP server on a
local port that answers the way the API does (a server-sent event stream, or a JSON error), so
the real SDK, our service and the view all run unchanged.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from peercode.events.models import Event
from projects.models import DecompositionOutcome, DecompositionRun, Task
from tests.factories import make_agent, make_contract, make_project, make_task
from tests.projects.api_support import API, agent_client, error_of, human_client, unchanged

pytestmark = pytest.mark.django_db

PLAN_URL = API + "/projects/alpha/plan/"

PLAN: dict[str, Any] = {
    "version": 1,
    "phases": [
        {"number": 1, "name": "Foundations"},
        {"number": 2, "name": "Features", "description": "User-facing work."},
    ],
    "tasks": [
        {
            "key": "P1-T1",
            "title": "Models",
            "phase": 1,
            "file_globs": ["app/models.py"],
            "provides": ["schema"],
            "estimate": 2,
        },
        {"key": "P1-T2", "title": "Auth", "phase": 1, "file_globs": ["app/**"]},
        {
            "key": "P2-T1",
            "title": "API",
            "phase": 2,
            "depends_on": ["P1-T1"],
            "consumes": ["schema"],
            "estimate": 3,
        },
    ],
    "contracts": [{"name": "schema", "kind": "schema", "spec": "Todo(id, title)"}],
}


@pytest.fixture
def alpha():
    project = make_project(slug="alpha", name="Alpha")
    _, token = make_agent(project, "bot")
    return project, token


class TestPlan:
    def test_plan_has_phases_with_tasks_waves_critical_path_and_collisions(self, alpha):
        project, token = alpha
        make_task(project, "A", file_globs=["src/api/**"], estimate=2)
        make_task(project, "B", file_globs=["src/api/auth.py"])
        make_task(project, "C", phase=2, depends_on=["A"], estimate=3)
        make_contract(project, "AuthAPI", owner="A")
        body = agent_client(token).get(PLAN_URL).json()
        assert body["project"] == "alpha"
        assert [p["number"] for p in body["phases"]] == [1, 2]
        phase_one = body["phases"][0]
        assert [(t["key"], t["wave"]) for t in phase_one["tasks"]] == [("A", 1), ("B", 1)]
        assert phase_one["tasks"][0]["provides"] == ["AuthAPI"]
        assert [(t["key"], t["wave"]) for t in body["phases"][1]["tasks"]] == [("C", 2)]
        assert body["waves"] == [["A", "B"], ["C"]]
        assert body["critical_path"] == {"keys": ["A", "C"], "length": 5}
        assert body["collisions"] == [
            {"first": "A", "second": "B", "globs": [["src/api/**", "src/api/auth.py"]]}
        ]

    def test_an_empty_plan_is_empty_not_an_error(self, alpha):
        body = human_client().get(PLAN_URL).json()
        assert body["phases"] == []
        assert body["waves"] == []
        assert body["critical_path"] == {"keys": [], "length": 0}

    def test_the_plan_costs_the_same_queries_whatever_its_size(self, alpha):
        project, token = alpha
        client = agent_client(token)

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(PLAN_URL).status_code == 200
            return len(captured)

        queries()  # the first request also records the agent's last-seen time
        make_task(project, "T0", file_globs=["a/**"])  # both reads below analyse afresh
        small = queries()
        for n in range(1, 30):
            make_task(project, f"T{n}", phase=1 + n % 3, depends_on=[f"T{n - 1}"])
        make_contract(project, "C1", owner="T3")
        assert queries() == small


class TestImport:
    def test_human_imports_a_plan_and_gets_the_counts(self, alpha):
        response = human_client().post(PLAN_URL + "import", PLAN, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["project"] == "alpha"
        assert body["phases_created"] == 2
        assert body["tasks_created"] == 3
        assert body["dependencies_created"] == 1
        assert body["contracts_created"] == 1
        assert body["contract_versions_created"] == 1
        assert body["tasks_replaced"] == 0
        assert Task.objects.get(key="P2-T1").status == "backlog"
        assert Event.objects.filter(type="plan.imported").count() == 1

    def test_an_invalid_plan_lists_every_problem_and_writes_nothing(self, alpha):
        plan = copy.deepcopy(PLAN)
        plan["tasks"][0]["phase"] = 9
        plan["tasks"][2]["depends_on"] = ["P9-T9"]
        plan["tasks"][1]["estimate"] = "big"
        with unchanged():
            response = human_client().post(PLAN_URL + "import", plan, format="json")
            error = error_of(response, 400, "invalid_plan")
        problems = error["details"]["errors"]
        assert len(problems) >= 3
        assert all(p["item"] and p["message"] for p in problems)
        items = " ".join(p["item"] for p in problems)
        assert "P1-T1" in items
        assert "P2-T1" in items
        assert "P1-T2" in items
        assert "nothing was imported" in error["message"]

    @pytest.mark.parametrize(
        "document",
        [[], "plan", 7, {}, {"phases": "none", "tasks": []}, {"phases": [], "tasks": [None]}],
    )
    def test_a_document_of_the_wrong_shape_is_a_400(self, alpha, document):
        with unchanged():
            response = human_client().post(PLAN_URL + "import", document, format="json")
            error_of(response, 400, "invalid_plan")

    def test_a_plan_with_a_cycle_is_refused_naming_it(self, alpha):
        plan = copy.deepcopy(PLAN)
        plan["tasks"][0]["depends_on"] = ["P2-T1"]
        with unchanged():
            response = human_client().post(PLAN_URL + "import", plan, format="json")
            error = error_of(response, 400, "invalid_plan")
        assert "P1-T1" in error["message"]
        assert "P2-T1" in error["message"]

    def test_a_project_with_a_plan_refuses_an_import_without_replace(self, alpha):
        project, _ = alpha
        make_task(project, "OLD")
        with unchanged():
            response = human_client().post(PLAN_URL + "import", PLAN, format="json")
            error = error_of(response, 409, "plan_exists")
        assert "replace" in error["message"]

    def test_replace_swaps_the_old_plan_for_the_new_one(self, alpha):
        project, _ = alpha
        make_task(project, "OLD")
        response = human_client().post(PLAN_URL + "import?replace=true", PLAN, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["tasks_replaced"] == 1
        assert sorted(Task.objects.filter(project=project).values_list("key", flat=True)) == [
            "P1-T1",
            "P1-T2",
            "P2-T1",
        ]

    @pytest.mark.parametrize(
        ("query", "mentions"), [("replace=perhaps", "replace"), ("force=1", "force")]
    )
    def test_bad_query_parameters_are_refused(self, alpha, query, mentions):
        with unchanged():
            response = human_client().post(PLAN_URL + f"import?{query}", PLAN, format="json")
            error = error_of(response, 400, "invalid")
        assert mentions in error["message"]

    def test_importing_into_an_unknown_project_is_a_404(self, alpha):
        with unchanged():
            response = human_client().post(API + "/projects/nope/plan/import", PLAN, format="json")
            error_of(response, 404, "not_found")


class TestExport:
    def test_an_exported_plan_imports_into_another_project_unchanged(self, alpha):
        human = human_client()
        human.post(PLAN_URL + "import", PLAN, format="json")
        _, token = alpha
        exported = agent_client(token).get(PLAN_URL + "export")
        assert exported.status_code == 200
        document = exported.json()
        assert [t["key"] for t in document["tasks"]] == ["P1-T1", "P1-T2", "P2-T1"]
        make_project(slug="copy")
        copied = human.post(API + "/projects/copy/plan/import", document, format="json")
        assert copied.status_code == 201, copied.content
        again = human.get(API + "/projects/copy/plan/export").json()
        assert {k: v for k, v in again.items() if k != "project"} == {
            k: v for k, v in document.items() if k != "project"
        }

    def test_exporting_an_unknown_project_is_a_404(self, alpha):
        error_of(human_client().get(API + "/projects/nope/plan/export"), 404, "not_found")


# A stand-in for the Anthropic Messages API ------------------------------------------------


class FakeAnthropic:
    """Answers POST /v1/messages with the queued answers, in order, and records requests."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, str, bytes]] = []
        self.requests: list[dict[str, Any]] = []

    def stream_tool_use(self, plan: Any, *, name: str = "submit_plan") -> None:
        text = json.dumps(plan)
        events: list[dict[str, Any]] = [
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-test",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 120, "output_tokens": 1},
                },
            },
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_01", "name": name, "input": {}},
            },
            *(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": text[i : i + 50]},
                }
                for i in range(0, len(text), 50)
            ),
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 345},
            },
            {"type": "message_stop"},
        ]
        body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
        self.answers.append((200, "text/event-stream", body.encode()))

    def error(self, status: int, kind: str, message: str) -> None:
        body = {"type": "error", "error": {"type": kind, "message": message}}
        self.answers.append((status, "application/json", json.dumps(body).encode()))


@pytest.fixture
def anthropic_api(monkeypatch, settings) -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            fake.requests.append(json.loads(self.rfile.read(length) or b"{}"))
            status, content_type, body = fake.answers.pop(0)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("request-id", "req_test")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class TestDecompose:
    def test_decomposition_imports_the_models_plan_and_returns_the_run(self, alpha, anthropic_api):
        anthropic_api.stream_tool_use(PLAN)
        response = human_client().post(
            PLAN_URL + "decompose",
            {"description": "A todo app with accounts.", "model": "claude-test"},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["outcome"] == "succeeded"
        assert body["model"] == "claude-test"
        assert body["tasks_created"] == 3
        assert body["output_tokens"] == 345
        assert Task.objects.filter(project__slug="alpha").count() == 3
        (sent,) = anthropic_api.requests
        assert sent["model"] == "claude-test"
        assert "A todo app with accounts." in json.dumps(sent["messages"])

    def test_without_an_api_key_it_is_a_503_that_says_how_to_configure_it(self, alpha, settings):
        settings.ANTHROPIC_API_KEY = ""
        with unchanged():
            response = human_client().post(
                PLAN_URL + "decompose", {"description": "A todo app."}, format="json"
            )
            error = error_of(response, 503, "no_api_key")
        assert "ANTHROPIC_API_KEY" in error["message"]
        assert "plan import" in error["message"]

    def test_an_invalid_plan_from_the_model_is_a_422_naming_the_run_and_imports_nothing(
        self, alpha, anthropic_api
    ):
        plan = copy.deepcopy(PLAN)
        plan["tasks"][2]["depends_on"] = ["MISSING"]
        anthropic_api.stream_tool_use(plan)
        response = human_client().post(
            PLAN_URL + "decompose",
            {"description": "A todo app.", "model": "claude-test"},
            format="json",
        )
        error = error_of(response, 422, "invalid_plan")
        run = DecompositionRun.objects.get()
        assert error["details"]["run"] == run.pk
        assert "MISSING" in error["message"]
        assert run.outcome == DecompositionOutcome.INVALID
        assert not Task.objects.exists()

    def test_an_api_failure_is_a_502_with_advice(self, alpha, anthropic_api):
        anthropic_api.error(401, "authentication_error", "invalid x-api-key")
        response = human_client().post(
            PLAN_URL + "decompose",
            {"description": "A todo app.", "model": "claude-test"},
            format="json",
        )
        error = error_of(response, 502, "upstream_failed")
        assert "ANTHROPIC_API_KEY" in error["message"]
        assert DecompositionRun.objects.get().outcome == DecompositionOutcome.FAILED
        assert not Task.objects.exists()

    @pytest.mark.parametrize(
        ("body", "mentions"),
        [
            ({}, "description"),
            ({"description": ""}, "description"),
            ({"description": "   "}, "description"),
            ({"description": "d" * 20_001}, "description"),
            ({"description": "x", "model": "m" * 101}, "model"),
            ({"description": "x", "model": ""}, "model"),
            ({"description": "x", "replace": "sometimes"}, "replace"),
            ({"description": "x", "temperature": 1}, "temperature"),
        ],
    )
    def test_bad_input_is_refused_before_anything_is_sent_or_written(
        self, alpha, anthropic_api, body, mentions
    ):
        with unchanged():
            response = human_client().post(PLAN_URL + "decompose", body, format="json")
            error = error_of(response, 400)
        assert mentions in error["message"]
        assert anthropic_api.requests == []
