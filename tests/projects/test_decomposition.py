"""Decomposition drives the real ``anthropic`` SDK against recorded-shape Messages API answers.

The SDK's HTTP client gets an ``httpx2.MockTransport`` whose handler records each request and
answers it the way the API does: a server-sent event stream for a streamed message, or a JSON
error body with the API's status codes.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from django.core.management import CommandError, call_command

from peercode.actors import Actor
from peercode.errors import (
    Conflict,
    NotConfigured,
    PermissionDenied,
    UpstreamFailed,
    ValidationFailed,
)
from peercode.events.models import Event
from projects.models import (
    Contract,
    DecompositionOutcome,
    DecompositionRun,
    Phase,
    Project,
    Task,
)
from projects.plan_format import PLAN_JSON_SCHEMA
from projects.services import decompose_project
from projects.services.decomposition import SUBMIT_PLAN_TOOL
from tests.anthropic_support import MessagesApi, error_answer
from tests.factories import SYSTEM, make_agent, make_phase, make_project, make_task

MODEL = "claude-sonnet-5-5"

DESCRIPTION = (
    "A todo web app: users sign up and log in, create lists, add todos with due dates, and "
    "see overdue ones highlighted. Django backend with a JSON API, small htmx frontend."
)

PLAN: dict[str, Any] = {
    "version": 1,
    "phases": [
        {"number": 1, "name": "Foundations", "description": "Models and the API contract."},
        {"number": 2, "name": "Features", "description": "Endpoints and pages."},
    ],
    "tasks": [
        {
            "key": "P1-T1",
            "title": "Todo and list models",
            "phase": 1,
            "description": "TodoList and Todo models with migrations.",
            "depends_on": [],
            "file_globs": ["todos/models.py", "todos/migrations/**"],
            "provides": ["todo-schema"],
            "consumes": [],
            "estimate": 2,
        },
        {
            "key": "P1-T2",
            "title": "Accounts: sign up and log in",
            "phase": 1,
            "depends_on": [],
            "file_globs": ["accounts/**"],
            "provides": ["auth-api"],
            "consumes": [],
            "estimate": 2,
        },
        {
            "key": "P2-T1",
            "title": "Todo JSON API",
            "phase": 2,
            "depends_on": ["P1-T1"],
            "file_globs": ["todos/api.py", "todos/serializers.py"],
            "provides": ["todo-api"],
            "consumes": ["todo-schema", "auth-api"],
            "estimate": 3,
        },
        {
            "key": "P2-T2",
            "title": "htmx todo pages",
            "phase": 2,
            "depends_on": [],
            "file_globs": ["templates/todos/**", "todos/views.py"],
            "provides": [],
            "consumes": ["todo-api"],
            "estimate": 3,
        },
    ],
    "contracts": [
        {
            "name": "todo-schema",
            "kind": "schema",
            "description": "Tables for lists and todos.",
            "spec": "TodoList(id, owner FK user, name); Todo(id, list FK, title, due date?)",
            "owner": "P1-T1",
        },
        {
            "name": "auth-api",
            "kind": "api",
            "spec": "POST /api/signup {email, password} -> 201 {id}; POST /api/login -> token",
            "owner": "P1-T2",
        },
        {
            "name": "todo-api",
            "kind": "api",
            "spec": "GET/POST /api/lists/{id}/todos; PATCH /api/todos/{id} {done}",
            "owner": "P2-T1",
        },
    ],
}


# The Messages API, as the SDK sees it -----------------------------------------------------


def _sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(
        f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in events
    ).encode()


def _message_start(*, input_tokens: int) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": 1,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
    }


def _message_end(*, stop_reason: str, output_tokens: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]


def _chunks(text: str, size: int = 37) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def stream_response(events: list[dict[str, Any]]) -> httpx2.Response:
    return httpx2.Response(
        200,
        headers={"content-type": "text/event-stream", "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy"},
        content=_sse(events),
    )


def tool_use_answer(
    tool_input: dict[str, Any] | str,
    *,
    name: str = SUBMIT_PLAN_TOOL,
    input_tokens: int = 1834,
    output_tokens: int = 2210,
    stop_reason: str = "tool_use",
) -> httpx2.Response:
    """A streamed answer whose one content block calls ``name`` with ``tool_input``.

    The input arrives as the API sends it: JSON text in ``input_json_delta`` chunks (a string
    ``tool_input`` is sent as is, to model a broken answer).
    """
    text = tool_input if isinstance(tool_input, str) else json.dumps(tool_input)
    deltas = [
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        }
    ] + [
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": chunk},
        }
        for chunk in _chunks(text)
    ]
    return stream_response(
        [
            _message_start(input_tokens=input_tokens),
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "name": name,
                    "input": {},
                },
            },
            {"type": "ping"},
            *deltas,
            {"type": "content_block_stop", "index": 0},
            *_message_end(stop_reason=stop_reason, output_tokens=output_tokens),
        ]
    )


def text_answer(text: str, *, input_tokens: int = 1834, output_tokens: int = 61) -> httpx2.Response:
    """A streamed answer with only text: the model talked instead of calling the tool."""
    return stream_response(
        [
            _message_start(input_tokens=input_tokens),
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            *(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": chunk},
                }
                for chunk in _chunks(text)
            ),
            {"type": "content_block_stop", "index": 0},
            *_message_end(stop_reason="end_turn", output_tokens=output_tokens),
        ]
    )


def runs_of(project: Project) -> list[DecompositionRun]:
    return list(DecompositionRun.objects.filter(project=project).order_by("started_at"))


def events_of(project: Project, prefix: str) -> list[Event]:
    return list(
        Event.objects.filter(project=project, type__startswith=prefix).order_by("created_at")
    )


@pytest.fixture
def api_key(settings: Any) -> None:
    settings.ANTHROPIC_API_KEY = "sk-ant-test"
    settings.PEERCODE_ANTHROPIC_MODEL = MODEL
    # Large enough that the SDK refuses it without streaming (it predicts > 10 minutes).
    settings.PEERCODE_DECOMPOSE_MAX_TOKENS = 64000


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("api_key")]


# Success --------------------------------------------------------------------------------


class TestSuccessfulDecomposition:
    def test_plan_from_the_model_is_imported_and_the_run_records_tokens_and_outcome(self):
        project = make_project()
        api = MessagesApi(tool_use_answer(PLAN, input_tokens=1834, output_tokens=2210))
        lines: list[str] = []

        run = decompose_project(
            project=project,
            description=DESCRIPTION,
            actor=SYSTEM,
            client=api.client(),
            progress=lines.append,
        )

        assert run.outcome == DecompositionOutcome.SUCCEEDED
        assert run.tasks_created == 4
        assert (run.input_tokens, run.output_tokens) == (1834, 2210)
        assert run.duration_ms >= 0
        assert run.finished_at is not None
        assert run.error == ""
        assert run.model == MODEL
        assert run.requested_by == SYSTEM.label
        stored = DecompositionRun.objects.get(pk=run.pk)
        assert stored.outcome == DecompositionOutcome.SUCCEEDED
        assert stored.description == DESCRIPTION
        assert sorted(Task.objects.filter(project=project).values_list("key", flat=True)) == [
            "P1-T1",
            "P1-T2",
            "P2-T1",
            "P2-T2",
        ]
        api_task = Task.objects.get(project=project, key="P2-T1")
        assert [t.key for t in api_task.depends_on.all()] == ["P1-T1"]
        assert list(Phase.objects.filter(project=project).values_list("number", "name")) == [
            (1, "Foundations"),
            (2, "Features"),
        ]
        assert set(Contract.objects.filter(project=project).values_list("name", flat=True)) == {
            "todo-schema",
            "auth-api",
            "todo-api",
        }
        assert lines[0].startswith(f"asking {MODEL}")
        assert "received 4 tasks in 2 phases" in lines
        assert "validating" in lines

    def test_started_and_finished_events_frame_the_import(self):
        project = make_project()
        api = MessagesApi(tool_use_answer(PLAN))

        run = decompose_project(
            project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
        )

        types = list(
            Event.objects.filter(project=project)
            .exclude(type="project.created")
            .order_by("created_at", "pk")
            .values_list("type", flat=True)
        )
        assert types[0] == "decomposition.started"
        assert types[-1] == "decomposition.finished"
        finished = events_of(project, "decomposition.finished")[0]
        assert finished.subject == f"decomposition:{run.pk}"
        assert finished.payload["outcome"] == "succeeded"
        assert finished.payload["tasks_created"] == 4
        assert finished.payload["input_tokens"] == 1834

    def test_request_asks_for_the_submit_plan_tool_with_the_plan_schema(self):
        project = make_project(name="Todo app")
        api = MessagesApi(tool_use_answer(PLAN))

        decompose_project(
            project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
        )

        assert len(api.requests) == 1
        request = api.requests[0]
        assert request.method == "POST"
        assert request.url.path == "/v1/messages"
        # Older SDKs send the key as x-api-key, 2.x as a bearer token.
        assert request.headers.get("x-api-key") == "test-key" or (
            request.headers.get("authorization") == "Bearer test-key"
        )
        body = api.body()
        assert body["model"] == MODEL
        assert body["max_tokens"] == 64000
        assert body["stream"] is True
        assert body["tools"] == [
            {
                "name": "submit_plan",
                "description": body["tools"][0]["description"],
                "input_schema": json.loads(json.dumps(PLAN_JSON_SCHEMA)),
            }
        ]
        assert body["tool_choice"] == {"type": "tool", "name": "submit_plan"}
        [user_message] = body["messages"]
        assert user_message["role"] == "user"
        assert DESCRIPTION in user_message["content"]
        assert "Todo app" in user_message["content"]

    def test_system_prompt_asks_for_a_plan_built_for_parallel_work(self):
        project = make_project()
        api = MessagesApi(tool_use_answer(PLAN))

        decompose_project(
            project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
        )

        system = api.body()["system"].lower()
        for asked_for in (
            "parallel",
            "small tasks",
            "one sitting",
            "contract",
            "concrete spec",
            "as few dependencies as possible",
            "file globs",
            "do not overlap",
            "phases in order",
        ):
            assert asked_for in system, asked_for

    def test_model_argument_overrides_the_configured_model(self):
        project = make_project()
        api = MessagesApi(tool_use_answer(PLAN))

        run = decompose_project(
            project=project,
            description=DESCRIPTION,
            actor=SYSTEM,
            model="claude-opus-5-5",
            client=api.client(),
        )

        assert api.body()["model"] == "claude-opus-5-5"
        assert run.model == "claude-opus-5-5"


# Malformed answers ----------------------------------------------------------------------


class TestInvalidAnswer:
    def assert_invalid_and_nothing_imported(
        self, project: Project, excinfo: pytest.ExceptionInfo[ValidationFailed]
    ) -> DecompositionRun:
        [run] = runs_of(project)
        assert run.outcome == DecompositionOutcome.INVALID
        assert run.finished_at is not None
        assert run.tasks_created == 0
        assert not Task.objects.filter(project=project).exists()
        assert not Phase.objects.filter(project=project).exists()
        assert not Contract.objects.filter(project=project).exists()
        assert excinfo.value.details["run"] == run.pk
        [finished] = events_of(project, "decomposition.finished")
        assert finished.payload["outcome"] == "invalid"
        return run

    def test_dependency_cycle_in_the_plan_is_recorded_as_invalid_and_named(self):
        project = make_project()
        plan = copy.deepcopy(PLAN)
        plan["tasks"][0]["depends_on"] = ["P2-T1"]  # P1-T1 → P2-T1 → P1-T1
        api = MessagesApi(tool_use_answer(plan, input_tokens=1500, output_tokens=900))

        with pytest.raises(ValidationFailed) as excinfo:
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        run = self.assert_invalid_and_nothing_imported(project, excinfo)
        assert "cycle" in run.error.lower()
        assert "P1-T1" in run.error
        assert "cycle" in excinfo.value.message.lower()
        assert "plan import" in excinfo.value.message
        # Tokens were spent, so they are recorded even though the plan was refused.
        assert (run.input_tokens, run.output_tokens) == (1500, 900)

    def test_unknown_dependency_key_and_unknown_contract_are_each_reported_on_their_own_line(
        self,
    ):
        project = make_project()
        plan = copy.deepcopy(PLAN)
        plan["tasks"][2]["depends_on"] = ["P1-T9"]
        plan["tasks"][3]["consumes"] = ["no-such-contract"]
        api = MessagesApi(tool_use_answer(plan))

        with pytest.raises(ValidationFailed) as excinfo:
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        run = self.assert_invalid_and_nothing_imported(project, excinfo)
        lines = run.error.splitlines()
        assert any("P1-T9" in line for line in lines)
        assert any("no-such-contract" in line for line in lines)
        assert not any("P1-T9" in line and "no-such-contract" in line for line in lines)
        assert "P1-T9" in excinfo.value.message
        assert "no-such-contract" in excinfo.value.message
        assert excinfo.value.details["errors"] == lines

    def test_answer_with_only_text_and_no_tool_call_is_invalid(self):
        project = make_project()
        api = MessagesApi(
            text_answer("I need more detail: which database should the todo app use?")
        )

        with pytest.raises(ValidationFailed) as excinfo:
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        run = self.assert_invalid_and_nothing_imported(project, excinfo)
        assert "without calling 'submit_plan'" in run.error
        assert "which database" in run.error
        assert "submit_plan" in excinfo.value.message

    def test_call_to_another_tool_is_invalid(self):
        project = make_project()
        api = MessagesApi(tool_use_answer({"query": "todo apps"}, name="web_search"))

        with pytest.raises(ValidationFailed) as excinfo:
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        run = self.assert_invalid_and_nothing_imported(project, excinfo)
        assert "'web_search' instead of 'submit_plan'" in run.error

    def test_answer_cut_off_at_max_tokens_says_to_raise_the_limit(self):
        project = make_project()
        truncated = {"version": 1, "phases": PLAN["phases"], "tasks": PLAN["tasks"][:1]}
        api = MessagesApi(tool_use_answer(truncated, stop_reason="max_tokens"))

        with pytest.raises(ValidationFailed) as excinfo:
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        run = self.assert_invalid_and_nothing_imported(project, excinfo)
        assert "PEERCODE_DECOMPOSE_MAX_TOKENS" in run.error
        assert "64000" in run.error

    def test_tool_input_that_is_not_json_is_invalid(self):
        project = make_project()
        # The last contract's owner lost its quotes.
        broken = json.dumps(PLAN).replace('"owner": "P2-T1"', '"owner": P2-T1')
        api = MessagesApi(tool_use_answer(broken))

        with pytest.raises(ValidationFailed) as excinfo:
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        run = self.assert_invalid_and_nothing_imported(project, excinfo)
        assert run.error.startswith("The model's answer could not be parsed:")
        # The SDK's message quotes the whole answer; the record keeps only its start.
        assert len(run.error) < 500 < len(broken)


# API failures ---------------------------------------------------------------------------


class TestApiFailure:
    @pytest.mark.parametrize(
        ("status", "error_type", "message", "advice"),
        [
            (529, "overloaded_error", "Overloaded", "retry"),
            (401, "authentication_error", "invalid x-api-key", "ANTHROPIC_API_KEY"),
            (500, "api_error", "Internal server error", "retry"),
            (429, "rate_limit_error", "Number of request tokens has exceeded", "rate limit"),
            (404, "not_found_error", "model: claude-nope", "PEERCODE_ANTHROPIC_MODEL"),
        ],
    )
    def test_api_error_is_recorded_as_failed_with_advice(
        self, status: int, error_type: str, message: str, advice: str
    ):
        project = make_project()
        api = MessagesApi(error_answer(status, error_type, message))

        with pytest.raises(UpstreamFailed) as excinfo:
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        [run] = runs_of(project)
        assert run.outcome == DecompositionOutcome.FAILED
        assert str(status) in run.error
        assert error_type in run.error
        assert message in run.error
        assert run.finished_at is not None
        assert (run.input_tokens, run.output_tokens, run.tasks_created) == (0, 0, 0)
        assert not Task.objects.filter(project=project).exists()
        text = excinfo.value.message
        assert str(status) in text
        assert advice in text
        assert f"plan import FILE --project {project.slug}" in text
        assert excinfo.value.details["run"] == run.pk
        [finished] = events_of(project, "decomposition.finished")
        assert finished.payload["outcome"] == "failed"

    def test_overload_error_in_the_middle_of_the_stream_is_a_failure(self):
        project = make_project()
        api = MessagesApi(
            stream_response(
                [
                    _message_start(input_tokens=1834),
                    {
                        "type": "error",
                        "error": {"type": "overloaded_error", "message": "Overloaded"},
                    },
                ]
            )
        )

        with pytest.raises(UpstreamFailed, match="retry"):
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        [run] = runs_of(project)
        assert run.outcome == DecompositionOutcome.FAILED
        assert "overloaded_error" in run.error
        assert run.input_tokens == 1834

    def test_unreachable_api_is_a_failure_that_says_so(self):
        project = make_project()

        def refuse(request: httpx2.Request) -> httpx2.Response:
            raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

        api = MessagesApi(refuse)

        with pytest.raises(UpstreamFailed, match="Could not reach the Anthropic API"):
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        [run] = runs_of(project)
        assert run.outcome == DecompositionOutcome.FAILED
        assert "Could not reach" in run.error


# Refusals before anything is sent ------------------------------------------------------


class TestRefusedBeforeCalling:
    def test_without_an_api_key_it_says_how_to_set_one_or_import_a_plan(self, settings: Any):
        settings.ANTHROPIC_API_KEY = ""
        project = make_project()
        events_before = Event.objects.count()

        with pytest.raises(NotConfigured) as excinfo:
            decompose_project(project=project, description=DESCRIPTION, actor=SYSTEM)

        assert "export ANTHROPIC_API_KEY=" in excinfo.value.message
        assert f"python manage.py plan import FILE --project {project.slug}" in (
            excinfo.value.message
        )
        assert not DecompositionRun.objects.exists()
        assert Event.objects.count() == events_before

    @pytest.mark.parametrize("description", ["", "   \n\t "])
    def test_empty_description_is_refused_and_nothing_is_sent(self, description: str):
        project = make_project()
        api = MessagesApi()

        with pytest.raises(ValidationFailed, match="description is empty"):
            decompose_project(
                project=project, description=description, actor=SYSTEM, client=api.client()
            )

        assert api.requests == []
        assert not DecompositionRun.objects.exists()

    def test_agent_asking_to_replace_a_plan_is_refused_before_any_call(self):
        project = make_project()
        agent, _ = make_agent(project)
        api = MessagesApi()

        with pytest.raises(PermissionDenied, match="Agents cannot change the plan"):
            decompose_project(
                project=project,
                description=DESCRIPTION,
                actor=Actor.for_agent(agent),
                replace=True,
                client=api.client(),
            )

        assert api.requests == []
        assert not DecompositionRun.objects.exists()

    def test_model_name_longer_than_the_run_can_record_is_refused(self):
        project = make_project()
        api = MessagesApi()

        with pytest.raises(ValidationFailed, match="PEERCODE_ANTHROPIC_MODEL"):
            decompose_project(
                project=project,
                description=DESCRIPTION,
                actor=SYSTEM,
                model="claude-" + "x" * 200,
                client=api.client(),
            )

        assert api.requests == []
        assert not DecompositionRun.objects.exists()

    def test_agent_of_another_project_is_refused(self):
        project = make_project()
        other_agent, _ = make_agent(make_project())
        api = MessagesApi()

        with pytest.raises(Exception, match="another project"):
            decompose_project(
                project=project,
                description=DESCRIPTION,
                actor=Actor.for_agent(other_agent),
                client=api.client(),
            )

        assert api.requests == []
        assert not DecompositionRun.objects.exists()


# A project that already has a plan -----------------------------------------------------


class TestExistingPlan:
    def test_project_with_a_plan_is_refused_before_the_model_is_called(self):
        project = make_project()
        make_task(project, "OLD-1")
        api = MessagesApi(tool_use_answer(PLAN))

        with pytest.raises(Conflict, match="--replace"):
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        assert api.requests == []
        assert not DecompositionRun.objects.exists()

    def test_replace_swaps_the_old_plan_for_the_models_plan(self):
        project = make_project()
        make_task(project, "OLD-1")
        api = MessagesApi(tool_use_answer(PLAN))

        run = decompose_project(
            project=project,
            description=DESCRIPTION,
            actor=SYSTEM,
            replace=True,
            client=api.client(),
        )

        assert run.outcome == DecompositionOutcome.SUCCEEDED
        assert set(Task.objects.filter(project=project).values_list("key", flat=True)) == {
            "P1-T1",
            "P1-T2",
            "P2-T1",
            "P2-T2",
        }

    def test_plan_added_while_the_model_was_answering_fails_the_import_and_is_recorded(self):
        project = make_project()

        def someone_else_imports_meanwhile(request: httpx2.Request) -> httpx2.Response:
            make_phase(project, number=1, name="Added by hand")
            return tool_use_answer(PLAN, input_tokens=1700, output_tokens=2000)

        api = MessagesApi(someone_else_imports_meanwhile)

        with pytest.raises(Conflict) as excinfo:
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        [run] = runs_of(project)
        assert run.outcome == DecompositionOutcome.FAILED
        assert run.error.startswith("The plan could not be imported:")
        assert "already has a plan" in run.error
        assert (run.input_tokens, run.output_tokens, run.tasks_created) == (1700, 2000, 0)
        assert excinfo.value.details["run"] == run.pk
        assert list(Phase.objects.filter(project=project).values_list("name", flat=True)) == [
            "Added by hand"
        ]
        assert not Task.objects.filter(project=project).exists()
        assert not events_of(project, "plan.imported")
        [finished] = events_of(project, "decomposition.finished")
        assert finished.payload["outcome"] == "failed"


class TestInterruptedRun:
    def test_interrupted_run_is_recorded_as_failed(self):
        project = make_project()

        def interrupt(request: httpx2.Request) -> httpx2.Response:
            raise KeyboardInterrupt

        api = MessagesApi(interrupt)

        with pytest.raises(KeyboardInterrupt):
            decompose_project(
                project=project, description=DESCRIPTION, actor=SYSTEM, client=api.client()
            )

        [run] = runs_of(project)
        assert run.outcome == DecompositionOutcome.FAILED
        assert run.error == "Stopped by KeyboardInterrupt"
        assert run.finished_at is not None


# python manage.py plan decompose --------------------------------------------------------


class LocalMessagesApi:
    """A real HTTP server on localhost that answers like the Messages API.

    The command builds its own SDK client, so the test points the SDK at this server through
    the SDK's own ``ANTHROPIC_BASE_URL`` setting instead of handing it a client.
    """

    def __init__(self, *answers: httpx2.Response) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {name.lower(): value for name, value in self.headers.items()}
                api.requests.append((self.path, headers, json.loads(body)))
                answer = api.answers.pop(0)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in {"content-length", "transfer-encoding"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: Any) -> None:
                """Silent: the test's output stays the command's own."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def description_file(tmp_path: Path) -> Path:
    path = tmp_path / "todo-app.md"
    path.write_text(DESCRIPTION + "\n", encoding="utf-8")
    return path


class TestDecomposeCommand:
    def test_command_decomposes_and_reports_the_run(
        self, description_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
    ):
        project = make_project()
        api = LocalMessagesApi(tool_use_answer(PLAN, input_tokens=1834, output_tokens=2210))
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        try:
            call_command(
                "plan",
                "decompose",
                "--project",
                project.slug,
                "--description-file",
                str(description_file),
            )
        finally:
            api.close()

        [run] = runs_of(project)
        assert run.outcome == DecompositionOutcome.SUCCEEDED
        assert Task.objects.filter(project=project).count() == 4
        [(path, headers, body)] = api.requests
        assert path == "/v1/messages"
        assert headers.get("x-api-key") == "sk-ant-test" or (
            headers.get("authorization") == "Bearer sk-ant-test"
        )
        assert body["model"] == MODEL
        assert DESCRIPTION in body["messages"][0]["content"]
        out = capsys.readouterr().out
        assert f"asking {MODEL}" in out
        assert "received 4 tasks in 2 phases" in out
        assert f"Decomposition run {run.pk} ({MODEL}) succeeded: 4 tasks created" in out
        assert "1834 input and 2210 output tokens" in out

    def test_command_without_an_api_key_says_how_to_set_one_or_import_a_plan(
        self, description_file: Path, settings: Any
    ):
        settings.ANTHROPIC_API_KEY = ""
        project = make_project()

        with pytest.raises(CommandError) as excinfo:
            call_command(
                "plan",
                "decompose",
                "--project",
                project.slug,
                "--description-file",
                str(description_file),
            )

        assert "export ANTHROPIC_API_KEY=" in str(excinfo.value)
        assert f"python manage.py plan import FILE --project {project.slug}" in str(excinfo.value)
        assert not DecompositionRun.objects.exists()
