"""REST views for context deltas: push, list (the feed), acknowledge, and who is behind.

The same services and selectors as the MCP tools; a delta's body is always
:func:`deltas.selectors.as_dict`, so REST, MCP and WebSocket clients see one shape.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from deltas import selectors, services
from deltas.models import DeltaKind, Significance
from peercode.api import (
    AgentsOnly,
    PeerCodeView,
    QuerySerializer,
    StrictSerializer,
    actor_from_request,
    agent_from_request,
    error_responses,
    parse_body,
    parse_query,
)
from peercode.errors import ValidationFailed
from projects.api.projects import SLUG
from projects.api.serializers import MAX_SPEC, choice_field, key_list, text_field
from projects.selectors import get_project

# Serializers -------------------------------------------------------------------------------


class DeltaOut(serializers.Serializer):
    """A context delta: the same shape over REST, MCP and WebSocket."""

    # Documentation only: the views return deltas.selectors.as_dict() itself.

    seq = serializers.IntegerField(help_text="Its number in the project: 1, 2, 3 ... no gap.")
    # Plain text here: the kinds are documented as an enum once, on the request (a second
    # enum named 'kind' beside the contracts' would need a global naming override).
    kind = serializers.CharField(help_text=f"One of {', '.join(DeltaKind.values)}.")
    significance = serializers.CharField(help_text=f"One of {', '.join(Significance.values)}.")
    summary = serializers.CharField()
    body = serializers.CharField(help_text="Markdown; may be empty.")
    author = serializers.CharField(help_text="e.g. 'agent:claude-backend' or 'user:alice'.")
    tasks = serializers.ListField(child=serializers.CharField(), help_text="Task keys.")
    contracts = serializers.ListField(child=serializers.CharField(), help_text="Contract names.")
    paths = serializers.ListField(child=serializers.CharField(), help_text="Paths or globs.")
    agents = serializers.ListField(
        child=serializers.CharField(), help_text="Agents it is addressed to (debate deltas)."
    )
    contract_version = serializers.IntegerField(
        allow_null=True, help_text="The contract version this change published, or null."
    )
    proposed_spec = serializers.CharField(
        allow_null=True, help_text="A spec proposed to the contract's owner, or null."
    )
    folded = serializers.IntegerField(help_text="Duplicate pushes folded into this delta.")
    created_at = serializers.DateTimeField()
    relevant = serializers.BooleanField(
        required=False, help_text="Agents only: the delta concerns the calling agent."
    )
    breaking_for_you = serializers.BooleanField(
        required=False,
        help_text="Agents only: breaking, or a new version of a contract its task consumes.",
    )


class DeltaPushIn(StrictSerializer):
    kind = choice_field(DeltaKind.choices, "delta kind")
    summary = serializers.CharField(
        max_length=services.MAX_SUMMARY, help_text="One line saying what changed."
    )
    significance = choice_field(
        Significance.choices, "significance", required=False, default=Significance.NORMAL
    )
    body = text_field(max_length=services.MAX_BODY, required=False, help_text="Markdown.")
    tasks = key_list(max_length=40, help_text="Keys of the tasks it touches.", required=False)
    contracts = key_list(
        max_length=120, help_text="Names of the contracts it touches.", required=False
    )
    paths = key_list(
        max_length=500, help_text="Repository paths or globs it touches.", required=False
    )
    spec = serializers.CharField(
        max_length=MAX_SPEC,
        trim_whitespace=False,
        required=False,
        help_text=(
            "contract_change with exactly one contract: the complete new spec. Published as "
            "the next version when the caller owns the contract (or is a human), otherwise "
            "recorded as a proposal for the owner."
        ),
    )
    rationale = text_field(max_length=2_000, required=False, help_text="Why the spec changed.")


class DeltaPushOut(serializers.Serializer):
    delta = DeltaOut()
    folded = serializers.BooleanField(
        help_text="A duplicate of the author's recent delta, counted on it (status 200)."
    )
    published_version = serializers.IntegerField(
        allow_null=True, help_text="The contract version the spec became, or null."
    )


class DeltaFilter(QuerySerializer):
    kind = choice_field(DeltaKind.choices, "delta kind", required=False)
    significance = choice_field(Significance.choices, "significance", required=False)
    author = serializers.CharField(max_length=64, required=False, help_text="An agent's name.")
    since = serializers.IntegerField(
        min_value=0, required=False, help_text="Only deltas with a greater seq."
    )
    only_relevant = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Agents only: true keeps just the deltas that concern the calling agent.",
    )


class DeltaAckIn(StrictSerializer):
    seq = serializers.IntegerField(
        min_value=0, help_text="Acknowledge every delta up to and including this seq."
    )


class DeltaAckOut(serializers.Serializer):
    cursor = serializers.IntegerField(help_text="The agent's acknowledged seq (never moves back).")
    head = serializers.IntegerField(help_text="The newest delta's seq.")
    drift = serializers.IntegerField(
        help_text="Deltas that concern the agent and that it has not acknowledged."
    )


class AgentAcknowledgementOut(serializers.Serializer):
    agent = serializers.CharField()
    acked_seq = serializers.IntegerField()
    behind = serializers.IntegerField(help_text="How many deltas it is behind the head.")
    pushed = serializers.IntegerField(help_text="How many deltas it pushed.")
    acknowledged_share = serializers.FloatField(help_text="acked_seq / head (1.0 when empty).")


class DriftOut(serializers.Serializer):
    head = serializers.IntegerField()
    agents = AgentAcknowledgementOut(many=True)
    cursor = serializers.IntegerField(
        allow_null=True, help_text="The calling agent's acknowledged seq; null for a human."
    )
    drift = DeltaOut(
        many=True,
        allow_null=True,
        help_text="The deltas that concern the calling agent and that it has not acknowledged, "
        "oldest first; null for a human.",
    )


# Views -------------------------------------------------------------------------------------


class DeltaListView(PeerCodeView):
    @extend_schema(
        tags=["deltas"],
        summary="A project's deltas, oldest first",
        description=(
            "Filter by kind, significance, author (an agent's name) and since=<seq>. An agent "
            "sees each delta marked relevant and breaking_for_you, and may ask for "
            "only_relevant=true."
        ),
        parameters=[SLUG, DeltaFilter],
        responses={200: DeltaOut(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        filters = dict(parse_query(DeltaFilter, request))
        only_relevant = filters.pop("only_relevant")
        interest = selectors.interest_of(actor.agent) if actor.agent is not None else None
        deltas = selectors.feed(project, **filters)
        if only_relevant:
            if interest is None:
                raise ValidationFailed(
                    "only_relevant=true needs an agent token: relevance is measured against an "
                    "agent's tasks. Leave it out to see the whole feed.",
                    code="only_relevant_needs_agent",
                )
            deltas = deltas.filter(
                seq__in=[delta.seq for delta in deltas if selectors.concerns(delta, interest)]
            )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(deltas, request, view=self) or []
        return paginator.get_paginated_response(
            [selectors.as_dict(delta, interest) for delta in page]
        )

    @extend_schema(
        tags=["deltas"],
        summary="Push a delta (agents and humans)",
        description=(
            "It gets the project's next seq and reaches live subscribers after commit. 201 "
            "when stored; 200 with folded=true when it repeats the author's delta from the "
            "last few minutes (same kind, summary and touched items) and was counted on it."
        ),
        parameters=[SLUG],
        request=DeltaPushIn,
        responses={
            201: DeltaPushOut,
            200: OpenApiResponse(DeltaPushOut, description="Folded into an earlier delta."),
            **error_responses(400, 404),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        data = parse_body(DeltaPushIn, request)
        result = services.push_delta(project=project, actor=actor, **data)
        body: dict[str, Any] = {
            "delta": selectors.as_dict(result.delta),
            "folded": result.folded,
            "published_version": (
                result.contract_version.number if result.contract_version else None
            ),
        }
        code = status.HTTP_200_OK if result.folded else status.HTTP_201_CREATED
        return Response(body, status=code)


class DeltaAckView(PeerCodeView):
    permission_classes = [IsAuthenticated, AgentsOnly]

    @extend_schema(
        tags=["deltas"],
        summary="Acknowledge deltas up to a seq (agents only)",
        description=(
            "Moves the calling agent's cursor forward to seq (an older seq changes nothing). "
            "A seq beyond the newest delta is refused."
        ),
        parameters=[SLUG],
        request=DeltaAckIn,
        responses={200: DeltaAckOut, **error_responses(400, 404)},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        data = parse_body(DeltaAckIn, request)
        agent = agent_from_request(request)
        cursor = services.ack_updates(agent=agent, seq=data["seq"])
        body = {
            "cursor": cursor.acked_seq,
            "head": selectors.head_of(project),
            "drift": len(selectors.drift_of(agent)),
        }
        return Response(body)


class DeltaDriftView(PeerCodeView):
    @extend_schema(
        tags=["deltas"],
        summary="Who has acknowledged what, and the calling agent's drift",
        description=(
            "Per agent: its acknowledged seq, how far behind the head it is, how many deltas it "
            "pushed and the share it acknowledged. For an agent, also the deltas that concern "
            "it and that it has not acknowledged yet."
        ),
        parameters=[SLUG],
        responses={200: DriftOut, **error_responses(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        agent = actor.agent
        drift = None
        if agent is not None:
            interest = selectors.interest_of(agent)
            drift = [selectors.as_dict(delta, interest) for delta in selectors.drift_of(agent)]
        body = {
            "head": selectors.head_of(project),
            "agents": selectors.acknowledgement_of(project),
            "cursor": selectors.cursor_of(agent) if agent is not None else None,
            "drift": drift,
        }
        return Response(body)
