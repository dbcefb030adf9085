"""REST views for locks: list, acquire, show, renew, release and the dry run."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from locks import selectors, services
from locks.api.common import LOCK_ID, AgentsChange, LockAgentsOnly
from locks.api.serializers import (
    AcquireIn,
    AcquireOut,
    CheckIn,
    CheckOut,
    LockFilter,
    LockOut,
    LocksOut,
    RenewIn,
)
from locks.models import Lock
from locks.rules import normalize_path
from peercode.api import (
    MAX_ROW_ID,
    NoInput,
    PeerCodeView,
    actor_from_request,
    agent_from_request,
    error_responses,
    parse_body,
    parse_query,
)
from peercode.errors import NotFound
from projects.api.projects import SLUG
from projects.models import Project
from projects.selectors import get_project


def _lock_in(project: Project, lock_id: int) -> Lock:
    lock = (
        Lock.objects.select_related("project", "holder", "task")
        .filter(project=project, pk=lock_id)
        .first()
        if lock_id <= MAX_ROW_ID
        else None
    )
    if lock is None:
        raise NotFound(
            f"No lock #{lock_id} in project {project.slug!r}. List the locks at "
            f"/api/v1/projects/{project.slug}/locks/ for their ids.",
            code="unknown_lock",
        )
    return lock


class LockListView(PeerCodeView):
    permission_classes = [IsAuthenticated, AgentsChange]

    @extend_schema(
        tags=["locks"],
        summary="A project's live locks and the requests waiting in line",
        # One object rather than a paged list, so name it as the list it is (drf-spectacular
        # would give it the detail route's name).
        operation_id="v1_projects_locks_list",
        description=(
            "Held locks whose lease has not run out (oldest grant first) and waiting requests "
            "(in arrival order, with their place). Filter by holder (an agent's name) and path."
        ),
        parameters=[SLUG, LockFilter],
        responses={200: LocksOut, **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = get_project(slug=slug, actor=actor_from_request(request))
        filters = parse_query(LockFilter, request)
        path = normalize_path(filters["path"]) if "path" in filters else None
        body = selectors.lock_board(project, holder=filters.get("holder"), path=path)
        return Response(body)

    @extend_schema(
        tags=["locks"],
        summary="Acquire a lock on a file, a section or a line range (agents only)",
        description=(
            "201 when granted at once, with a fencing token. When it conflicts with a live lock "
            "of another agent (or an earlier waiting request): 409 naming each one in "
            "details.conflicts, or with wait=true, 202 and a place in line (granted in arrival "
            "order as soon as the conflicts clear; the agent is told over WebSocket and by "
            "get_updates). 'warnings' names breaking contract changes the agent has not "
            "acknowledged; when the project's coupling guard is 'refuse', they refuse the "
            "request with 409 instead."
        ),
        parameters=[SLUG],
        request=AcquireIn,
        responses={
            201: AcquireOut,
            202: OpenApiResponse(AcquireOut, description="Waiting in line at 'position'."),
            **error_responses(400, 404, 409),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        get_project(slug=slug, actor=actor)
        data = dict(parse_body(AcquireIn, request))
        data["task_key"] = data.pop("task", None)
        result = services.acquire_lock(agent=agent_from_request(request), **data)
        body = {
            "lock": selectors.as_dict(result.lock, position=result.position),
            "granted": result.granted,
            "position": result.position,
            "warnings": result.warnings,
        }
        code = status.HTTP_201_CREATED if result.granted else status.HTTP_202_ACCEPTED
        return Response(body, status=code)


class LockDetailView(PeerCodeView):
    @extend_schema(
        tags=["locks"],
        summary="Show one lock, live or not",
        parameters=[SLUG, LOCK_ID],
        responses={200: LockOut, **error_responses(404)},
    )
    def get(self, request: Request, slug: str, lock_id: int) -> Response:
        project = get_project(slug=slug, actor=actor_from_request(request))
        return Response(selectors.as_dict(_lock_in(project, lock_id)))


class LockRenewView(PeerCodeView):
    @extend_schema(
        tags=["locks"],
        summary="Extend a live lease (its holder, or a staff human)",
        description=(
            "The lease ends ttl_seconds from now; the fencing token stays. A lease that has run "
            "out, was released or is still waiting is refused with 409: acquire it again."
        ),
        parameters=[SLUG, LOCK_ID],
        request=RenewIn,
        responses={200: LockOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str, lock_id: int) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        data = parse_body(RenewIn, request)
        lock = _lock_in(project, lock_id)
        renewed = services.renew_lock(
            actor=actor, lock_id=lock.pk, ttl_seconds=data.get("ttl_seconds")
        )
        return Response(selectors.as_dict(renewed))


class LockReleaseView(PeerCodeView):
    @extend_schema(
        tags=["locks"],
        summary="Release a lock or leave the line (its holder, or a staff human)",
        description=(
            "Waiting requests this unblocks are granted at once, in arrival order. A lease that "
            "has already run out is refused with 409 (lock_expired): work after its expiry was "
            "not protected."
        ),
        parameters=[SLUG, LOCK_ID],
        request=None,
        responses={200: LockOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str, lock_id: int) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        parse_body(NoInput, request)
        lock = _lock_in(project, lock_id)
        return Response(selectors.as_dict(services.release_lock(actor=actor, lock_id=lock.pk)))


class LockCheckView(PeerCodeView):
    permission_classes = [IsAuthenticated, LockAgentsOnly]

    @extend_schema(
        tags=["locks"],
        summary="Dry run: would these locks be granted now, and who is in the way (agents only)",
        description="Changes nothing. The calling agent's own locks never conflict with it.",
        parameters=[SLUG],
        request=CheckIn,
        responses={200: CheckOut, **error_responses(400, 404)},
    )
    def post(self, request: Request, slug: str) -> Response:
        get_project(slug=slug, actor=actor_from_request(request))
        data = parse_body(CheckIn, request)
        answers = services.check_conflicts(
            agent=agent_from_request(request), specs=[dict(wanted) for wanted in data["locks"]]
        )
        return Response({"answers": answers})
