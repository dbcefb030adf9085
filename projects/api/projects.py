"""REST views for projects and their agents."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from peercode.agent_config import mcp_client_configs
from peercode.api import (
    HumansChange,
    HumansOnly,
    NoInput,
    PeerCodeView,
    actor_from_request,
    error_responses,
    parse_body,
)
from projects import selectors, services
from projects.api.serializers import (
    AgentCreateIn,
    AgentOut,
    AgentTokenOut,
    ProjectCreateIn,
    ProjectOut,
    ProjectUpdateIn,
)
from projects.models import Agent

SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The project's slug.")
AGENT_NAME = OpenApiParameter(
    "name", str, OpenApiParameter.PATH, description="The agent's name within the project."
)
TOKEN_ONCE = (
    "Store this token now: PeerCode keeps only its hash and cannot show it again. Send it as "
    "'Authorization: Bearer <token>'; the mcp_config snippets already carry it."
)


class ProjectListView(PeerCodeView):
    permission_classes = [IsAuthenticated, HumansChange]

    @extend_schema(
        tags=["projects"],
        summary="List projects",
        description="An agent sees only its own project; a human sees every project.",
        responses={200: ProjectOut(many=True), **error_responses()},
    )
    def get(self, request: Request) -> Response:
        return self.paginate(selectors.projects_for(actor_from_request(request)), ProjectOut)

    @extend_schema(
        tags=["projects"],
        summary="Create a project (humans only)",
        request=ProjectCreateIn,
        responses={201: ProjectOut, **error_responses(400, 409)},
    )
    def post(self, request: Request) -> Response:
        data = parse_body(ProjectCreateIn, request)
        project = services.create_project(actor=actor_from_request(request), **data)
        return Response(ProjectOut(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(PeerCodeView):
    permission_classes = [IsAuthenticated, HumansChange]

    @extend_schema(
        tags=["projects"],
        summary="Show a project",
        parameters=[SLUG],
        responses={200: ProjectOut, **error_responses(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        return Response(ProjectOut(project).data)

    @extend_schema(
        tags=["projects"],
        summary="Change a project's settings (humans only)",
        parameters=[SLUG],
        request=ProjectUpdateIn,
        responses={200: ProjectOut, **error_responses(400, 404)},
    )
    def patch(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        changes = parse_body(ProjectUpdateIn, request)
        project = services.update_project(project=project, actor=actor, **changes)
        return Response(ProjectOut(project).data)


def _token_response(agent: Agent, token: str, *, status_code: int) -> Response:
    body = {
        "agent": agent,
        "token": token,
        "mcp_config": mcp_client_configs(token),
        "message": TOKEN_ONCE,
    }
    return Response(AgentTokenOut(body).data, status=status_code)


class AgentListView(PeerCodeView):
    permission_classes = [IsAuthenticated, HumansChange]

    @extend_schema(
        tags=["agents"],
        summary="List a project's agents",
        parameters=[SLUG],
        responses={200: AgentOut(many=True), **error_responses(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        return self.paginate(selectors.agents_of(project), AgentOut)

    @extend_schema(
        tags=["agents"],
        summary="Register an agent (humans only); returns its token once",
        parameters=[SLUG],
        request=AgentCreateIn,
        responses={201: AgentTokenOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        data = parse_body(AgentCreateIn, request)
        agent, token = services.create_agent(project=project, actor=actor, **data)
        return _token_response(agent, token, status_code=status.HTTP_201_CREATED)


class AgentRotateView(PeerCodeView):
    permission_classes = [IsAuthenticated, HumansOnly]

    @extend_schema(
        tags=["agents"],
        summary="Issue a new token for an agent (humans only); the old one stops working",
        parameters=[SLUG, AGENT_NAME],
        request=None,
        responses={200: AgentTokenOut, **error_responses(400, 404)},
    )
    def post(self, request: Request, slug: str, name: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        parse_body(NoInput, request)
        agent = selectors.get_agent(project=project, name=name)
        token = services.rotate_agent_token(agent=agent, actor=actor)
        return _token_response(agent, token, status_code=status.HTTP_200_OK)


class AgentRevokeView(PeerCodeView):
    permission_classes = [IsAuthenticated, HumansOnly]

    @extend_schema(
        tags=["agents"],
        summary="Revoke an agent's token (humans only); rotate to re-enable it",
        parameters=[SLUG, AGENT_NAME],
        request=None,
        responses={200: AgentOut, **error_responses(400, 404)},
    )
    def post(self, request: Request, slug: str, name: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        parse_body(NoInput, request)
        agent = selectors.get_agent(project=project, name=name)
        agent = services.deactivate_agent(agent=agent, actor=actor)
        return Response(AgentOut(agent).data)
