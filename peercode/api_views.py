"""REST views that are about the caller rather than one app: who am I."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from peercode.api import PeerCodeView, actor_from_request, error_responses
from projects import selectors
from projects.api.serializers import MeOut
from projects.models import TaskStatus


class MeView(PeerCodeView):
    @extend_schema(
        tags=["me"],
        summary="Who am I: the calling agent or human, its project and its tasks in progress",
        responses={200: MeOut, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        actor = actor_from_request(request)
        body: dict[str, Any] = {
            "kind": actor.kind,
            "name": actor.name,
            "is_staff": actor.is_staff,
            "project": None,
            "in_progress_tasks": [],
            "roles": [],
        }
        if actor.agent is not None:
            project = actor.agent.project
            body["project"] = project
            body["in_progress_tasks"] = selectors.tasks_of(project).filter(
                assignee=actor.agent, status=TaskStatus.IN_PROGRESS
            )
        else:
            body["roles"] = selectors.memberships_of(actor.user)
        return Response(MeOut(body).data)
