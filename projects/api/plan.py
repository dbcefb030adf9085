"""REST views for the plan as a whole (its shape, import, export, decomposition) and phases."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from peercode.api import (
    HumansOnly,
    PeerCodeView,
    actor_from_request,
    error_responses,
    parse_body,
    parse_query,
)
from peercode.errors import ValidationFailed
from projects import selectors, services
from projects.api.projects import SLUG
from projects.api.serializers import (
    DecompositionRunOut,
    PhaseCreateIn,
    PhaseOut,
    PhaseUpdateIn,
    PlanDecomposeIn,
    PlanImportQuery,
    PlanOut,
)
from projects.plan_format import validate_plan_document
from projects.services.decomposition import decompose_project
from projects.services.plan_import import export_plan, import_plan

PHASE_NUMBER = OpenApiParameter(
    "number", int, OpenApiParameter.PATH, description="The phase's number."
)


class PlanImportOut(serializers.Serializer):
    project = serializers.CharField(source="project.slug")
    phases_created = serializers.IntegerField()
    tasks_created = serializers.IntegerField()
    dependencies_created = serializers.IntegerField()
    contracts_created = serializers.IntegerField()
    contract_versions_created = serializers.IntegerField()
    consumes_created = serializers.IntegerField()
    tasks_replaced = serializers.IntegerField(help_text="Tasks the replaced plan had.")


class PlanView(PeerCodeView):
    @extend_schema(
        tags=["plan"],
        summary="The whole plan: phases with their tasks, waves, critical path, collisions",
        parameters=[SLUG],
        responses={200: PlanOut, **error_responses(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        overview = selectors.plan_overview(project)
        analysis = overview.analysis
        plan = {
            "project": project.slug,
            "phases": [
                {
                    "number": entry.phase.number,
                    "name": entry.phase.name,
                    "description": entry.phase.description,
                    "tasks": entry.tasks,
                }
                for entry in overview.phases
            ],
            "waves": analysis.waves,
            "critical_path": analysis.critical_path,
            "collisions": analysis.collisions,
            "collisions_complete": analysis.collisions_complete,
        }
        return Response(PlanOut(plan, context={"wave_of": analysis.wave_of()}).data)


class PlanImportView(PeerCodeView):
    permission_classes = [IsAuthenticated, HumansOnly]

    @extend_schema(
        tags=["plan"],
        summary="Import a plan document (humans only)",
        description=(
            "The body is a plan document (docs/plan-format.md) as JSON. It is checked as a "
            "whole: an invalid plan gets 400 listing every problem (item and message) and "
            "nothing is written. A project that already has a plan is refused (409) unless "
            "replace=true, which deletes the old plan in the same transaction."
        ),
        parameters=[SLUG, PlanImportQuery],
        request=OpenApiTypes.OBJECT,
        responses={201: PlanImportOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        options = parse_query(PlanImportQuery, request)
        plan = validate_plan_document(request.data, source="the request body")
        result = import_plan(project=project, plan=plan, actor=actor, replace=options["replace"])
        return Response(PlanImportOut(result).data, status=status.HTTP_201_CREATED)


class PlanExportView(PeerCodeView):
    @extend_schema(
        tags=["plan"],
        summary="Export the plan as a plan document",
        description="The same format plan/import takes: importing it elsewhere copies the plan.",
        parameters=[SLUG],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The plan document."),
            **error_responses(404),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        return Response(export_plan(project))


class PlanDecomposeView(PeerCodeView):
    permission_classes = [IsAuthenticated, HumansOnly]

    @extend_schema(
        tags=["plan"],
        summary="Decompose a description into a plan with the planning model (humans only)",
        description=(
            "Calls the Anthropic API and imports the plan it returns, validated like an imported "
            "file. Every run is recorded. 503 when no API key is configured (the message says "
            "how to set one), 422 when the model's plan is not valid (nothing is imported; "
            "details list the problems and the run), 502 when the API call fails."
        ),
        parameters=[SLUG],
        request=PlanDecomposeIn,
        responses={201: DecompositionRunOut, **error_responses(400, 404, 409, 422, 502, 503)},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        data = parse_body(PlanDecomposeIn, request)
        try:
            run = decompose_project(project=project, actor=actor, **data)
        except ValidationFailed as exc:
            if "run" not in exc.details:
                raise  # the request itself was bad: 400
            # The request was fine but the model's answer was not a valid plan.
            return Response({"error": exc.as_dict()}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(DecompositionRunOut(run).data, status=status.HTTP_201_CREATED)


class PhaseListView(PeerCodeView):
    @extend_schema(
        tags=["plan"],
        summary="List a project's phases",
        parameters=[SLUG],
        responses={200: PhaseOut(many=True), **error_responses(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        return self.paginate(selectors.phases_of(project), PhaseOut)

    @extend_schema(
        tags=["plan"],
        summary="Add a phase",
        parameters=[SLUG],
        request=PhaseCreateIn,
        responses={201: PhaseOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        data = parse_body(PhaseCreateIn, request)
        phase = services.add_phase(project=project, actor=actor, **data)
        return Response(PhaseOut(phase).data, status=status.HTTP_201_CREATED)


class PhaseDetailView(PeerCodeView):
    @extend_schema(
        tags=["plan"],
        summary="Rename or re-describe a phase",
        parameters=[SLUG, PHASE_NUMBER],
        request=PhaseUpdateIn,
        responses={200: PhaseOut, **error_responses(400, 404)},
    )
    def patch(self, request: Request, slug: str, number: int) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        phase = selectors.get_phase(project=project, number=number)
        data = parse_body(PhaseUpdateIn, request)
        phase = services.update_phase(phase=phase, actor=actor, **data)
        return Response(PhaseOut(phase).data)
