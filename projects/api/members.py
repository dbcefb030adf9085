"""REST views for a project's members: the humans who may see and steer it, with their role."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from peercode.api import (
    HumansOnly,
    NoInput,
    PeerCodeView,
    actor_from_request,
    error_responses,
    parse_body,
)
from peercode.permissions import Action, require
from projects import selectors, services
from projects.api.projects import SLUG
from projects.api.serializers import MemberIn, MemberRoleIn, MembershipOut

USERNAME = OpenApiParameter(
    "username", str, OpenApiParameter.PATH, description="The member's username."
)


class MemberListView(PeerCodeView):
    permission_classes = [IsAuthenticated, HumansOnly]

    @extend_schema(
        tags=["members"],
        summary="List a project's members and their roles (humans only)",
        parameters=[SLUG],
        responses={200: MembershipOut(many=True), **error_responses(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        return self.paginate(selectors.members_of(project), MembershipOut)

    @extend_schema(
        tags=["members"],
        summary="Add a member, or change a member's role (project admins)",
        parameters=[SLUG],
        request=MemberIn,
        responses={200: MembershipOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        data = parse_body(MemberIn, request)
        require(actor, Action.MANAGE_MEMBERS, project)
        user = selectors.get_user(username=data["user"])
        membership = services.set_member_role(
            project=project, user=user, role=data["role"], actor=actor
        )
        return Response(MembershipOut(membership).data, status=status.HTTP_200_OK)


class MemberDetailView(PeerCodeView):
    permission_classes = [IsAuthenticated, HumansOnly]

    @extend_schema(
        tags=["members"],
        summary="Change a member's role (project admins)",
        parameters=[SLUG, USERNAME],
        request=MemberRoleIn,
        responses={200: MembershipOut, **error_responses(400, 404, 409)},
    )
    def patch(self, request: Request, slug: str, username: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        data = parse_body(MemberRoleIn, request)
        require(actor, Action.MANAGE_MEMBERS, project)
        user = selectors.get_user(username=username)
        membership = services.set_member_role(
            project=project, user=user, role=data["role"], actor=actor
        )
        return Response(MembershipOut(membership).data)

    @extend_schema(
        tags=["members"],
        summary="Remove a member (project admins); returns the role they had",
        parameters=[SLUG, USERNAME],
        request=None,
        responses={200: MembershipOut, **error_responses(400, 404, 409)},
    )
    def delete(self, request: Request, slug: str, username: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        parse_body(NoInput, request)
        require(actor, Action.MANAGE_MEMBERS, project)
        user = selectors.get_user(username=username)
        membership = services.remove_member(project=project, user=user, actor=actor)
        return Response(MembershipOut(membership).data)
