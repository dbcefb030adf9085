"""REST views for tasks: list, add, edit, claim, and move along their statuses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from deltas.services import coupling_guard
from peercode.api import (
    AgentsOnly,
    NoInput,
    PeerCodeView,
    actor_from_request,
    agent_from_request,
    error_responses,
    parse_body,
    parse_query,
)
from projects import selectors, services
from projects.api.projects import SLUG
from projects.api.serializers import (
    TaskCreateIn,
    TaskDetailOut,
    TaskFilter,
    TaskOut,
    TaskStatusIn,
    TaskUpdateIn,
)

TASK_KEY = OpenApiParameter(
    "key", str, OpenApiParameter.PATH, description="The task's key, such as 'P1-T3'."
)


class TaskClaimOut(TaskOut):
    warnings = serializers.SerializerMethodField(
        help_text="Unacknowledged breaking changes to contracts the agent's tasks consume: "
        "read and acknowledge them (GET and POST .../deltas/) before coding on."
    )

    def get_warnings(self, task: Any) -> list[str]:
        return list(self.context["warnings"])


def _plan_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The API calls a task's phase 'phase'; the services call it 'phase_number'."""
    if "phase" in data:
        data["phase_number"] = data.pop("phase")
    return data


class TaskListView(PeerCodeView):
    @extend_schema(
        tags=["tasks"],
        summary="List a project's tasks, in plan order",
        parameters=[SLUG, TaskFilter],
        responses={200: TaskOut(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        filters = parse_query(TaskFilter, request)
        return self.paginate(selectors.tasks_of(project, **filters), TaskOut)

    @extend_schema(
        tags=["tasks"],
        summary="Add a task to a phase",
        description="It starts ready when every dependency is done, otherwise backlog.",
        parameters=[SLUG],
        request=TaskCreateIn,
        responses={201: TaskOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        data = _plan_fields(dict(parse_body(TaskCreateIn, request)))
        task = services.add_task(project=project, actor=actor, **data)
        return Response(TaskOut(task).data, status=status.HTTP_201_CREATED)


class TaskDetailView(PeerCodeView):
    @extend_schema(
        tags=["tasks"],
        summary="Show a task with its dependencies and dependents",
        parameters=[SLUG, TASK_KEY],
        responses={200: TaskDetailOut, **error_responses(404)},
    )
    def get(self, request: Request, slug: str, key: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        return Response(TaskDetailOut(selectors.get_task(project=project, key=key)).data)

    @extend_schema(
        tags=["tasks"],
        summary="Edit a task's plan fields",
        description=(
            "Agents may edit only tasks assigned to them. Lists replace the old lists. The "
            "status changes with POST .../status, not here."
        ),
        parameters=[SLUG, TASK_KEY],
        request=TaskUpdateIn,
        responses={200: TaskDetailOut, **error_responses(400, 404)},
    )
    def patch(self, request: Request, slug: str, key: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        task = selectors.get_task(project=project, key=key)
        changes = _plan_fields(dict(parse_body(TaskUpdateIn, request)))
        task = services.update_task(task=task, actor=actor, **changes)
        return Response(TaskDetailOut(task).data)


class TaskClaimView(PeerCodeView):
    permission_classes = [IsAuthenticated, AgentsOnly]

    @extend_schema(
        tags=["tasks"],
        summary="Claim a ready task for the calling agent (agents only)",
        description=(
            "Exactly one of several agents claiming at once wins; the others get 409. "
            "'warnings' names breaking contract changes the agent has not acknowledged; when "
            "the project's coupling guard is 'refuse', they refuse the claim with 409 instead."
        ),
        parameters=[SLUG, TASK_KEY],
        request=None,
        responses={200: TaskClaimOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str, key: str) -> Response:
        actor = actor_from_request(request)
        selectors.get_project(slug=slug, actor=actor)
        parse_body(NoInput, request)
        agent = agent_from_request(request)
        warnings = coupling_guard(agent=agent, action=f"claim task {key}", task_key=key)
        task = services.claim_task(agent=agent, task_key=key)
        return Response(TaskClaimOut(task, context={"warnings": warnings}).data)


class TaskStatusView(PeerCodeView):
    @extend_schema(
        tags=["tasks"],
        summary="Move a task to another status",
        description=(
            "Legal moves: backlog → ready/blocked; ready → in_progress/backlog/blocked; "
            "in_progress → review/blocked/ready; review → done/in_progress/blocked; "
            "blocked → backlog/ready/in_progress; done is final. Agents move only their own "
            "tasks; finishing a task makes its now-unblocked dependents ready."
        ),
        parameters=[SLUG, TASK_KEY],
        request=TaskStatusIn,
        responses={200: TaskOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str, key: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        task = selectors.get_task(project=project, key=key)
        data = parse_body(TaskStatusIn, request)
        task = services.change_task_status(task=task, actor=actor, **data)
        return Response(TaskOut(task).data)
