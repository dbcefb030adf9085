"""REST views for the push queue: the line of a branch, asking to push, completing and
abandoning a turn."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from locks import push
from locks.api.common import TICKET_ID, AgentsChange, LockAgentsOnly
from locks.api.serializers import (
    PushCompleteIn,
    PushFilter,
    PushRequestIn,
    PushRequestOut,
    PushStatusOut,
    TicketOut,
)
from locks.models import PushTicket
from peercode.api import (
    ERROR_SCHEMA,
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


def _ticket_in(project: Project, ticket_id: int) -> PushTicket:
    ticket = (
        PushTicket.objects.filter(project=project, pk=ticket_id).first()
        if ticket_id <= MAX_ROW_ID
        else None
    )
    if ticket is None:
        raise NotFound(
            f"No push ticket #{ticket_id} in project {project.slug!r}. See the line at "
            f"/api/v1/projects/{project.slug}/push/.",
            code="unknown_ticket",
        )
    return ticket


class PushQueueView(PeerCodeView):
    permission_classes = [IsAuthenticated, AgentsChange]

    @extend_schema(
        tags=["push"],
        summary="The push line of a branch: who pushes now, who waits, the recorded head",
        description=(
            "The integration branch unless ?branch= names another. An agent also sees its own "
            "ticket and place."
        ),
        parameters=[SLUG, PushFilter],
        responses={200: PushStatusOut, **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        branch = parse_query(PushFilter, request).get("branch")
        return Response(push.push_status(agent=actor.agent, project=project, branch=branch))

    @extend_schema(
        tags=["push"],
        summary="Ask to push to a branch (agents only)",
        description=(
            "201 with the new ticket and its place; place 0 means the turn is the agent's now "
            "(a short push lease with a fencing token): push with git, then complete. Asking "
            "again while in line returns the same ticket (200, already_in_line). 'warnings' "
            "names unacknowledged breaking contract changes; with the coupling guard at "
            "'refuse' they refuse with 409."
        ),
        parameters=[SLUG],
        request=PushRequestIn,
        responses={
            201: PushRequestOut,
            200: OpenApiResponse(PushRequestOut, description="Already in line: that ticket."),
            **error_responses(400, 404, 409),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        get_project(slug=slug, actor=actor_from_request(request))
        data = parse_body(PushRequestIn, request)
        result = push.request_push(
            agent=agent_from_request(request),
            branch=data.get("branch"),
            paths=data.get("paths"),
        )
        body = {
            "ticket": push.ticket_as_dict(result.ticket),
            "position": result.position,
            "already_in_line": result.already_in_line,
            "warnings": result.warnings,
        }
        code = status.HTTP_200_OK if result.already_in_line else status.HTTP_201_CREATED
        return Response(body, status=code)


class PushCompleteView(PeerCodeView):
    permission_classes = [IsAuthenticated, LockAgentsOnly]

    @extend_schema(
        tags=["push"],
        summary="End the agent's turn by recording the commit it pushed (agents only)",
        description=(
            "Needs the ticket's fencing token, refused once a newer turn on the branch was "
            "granted. With a git repository configured, the commit is checked (branch head, "
            "fast-forward, files locked exclusively by others); what fails is in 'violations' "
            "and reported to the humans. The turn passes to the next ticket."
        ),
        parameters=[SLUG, TICKET_ID],
        request=PushCompleteIn,
        responses={
            200: TicketOut,
            **error_responses(400, 404, 409),
            502: OpenApiResponse(
                ERROR_SCHEMA, description="git failed or timed out checking the commit; call again."
            ),
            503: OpenApiResponse(
                ERROR_SCHEMA,
                description="The project's git repository cannot be read, or git is missing.",
            ),
        },
    )
    def post(self, request: Request, slug: str, ticket_id: int) -> Response:
        project = get_project(slug=slug, actor=actor_from_request(request))
        data = parse_body(PushCompleteIn, request)
        ticket = _ticket_in(project, ticket_id)
        completed = push.complete_push(
            agent=agent_from_request(request),
            ticket_id=ticket.pk,
            commit_sha=data["commit_sha"],
            fencing_token=data["fencing_token"],
        )
        return Response(push.ticket_as_dict(completed))


class PushAbandonView(PeerCodeView):
    @extend_schema(
        tags=["push"],
        summary="Leave the push line (the ticket's agent, or a staff human)",
        description="When the ticket held the turn, it passes to the next in line.",
        parameters=[SLUG, TICKET_ID],
        request=None,
        responses={200: TicketOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str, ticket_id: int) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        parse_body(NoInput, request)
        ticket = _ticket_in(project, ticket_id)
        return Response(push.ticket_as_dict(push.abandon_push(actor=actor, ticket_id=ticket.pk)))
