"""REST views for debates: list and open them, read one, take a turn, withdraw, decide, and
search the web for evidence."""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from debates import selectors, services
from debates.api.common import DEBATE_ID, DebateAgentsOnly
from debates.api.serializers import (
    DebateBriefOut,
    DebateFilter,
    DebateOpenIn,
    DebateOut,
    DebateQuery,
    DecideIn,
    SearchIn,
    SearchOut,
    TurnIn,
    TurnResultOut,
    WithdrawIn,
)
from debates.models import Debate
from peercode.api import (
    ERROR_SCHEMA,
    PeerCodeView,
    actor_from_request,
    agent_from_request,
    error_responses,
    parse_body,
    parse_query,
)
from peercode.errors import ValidationFailed
from projects.api.projects import SLUG
from projects.selectors import get_agent, get_project


class DebateListView(PeerCodeView):
    @extend_schema(
        tags=["debates"],
        summary="A project's debates: escalated first, then open, then newest",
        description=(
            "Filter by status, by participant (an agent's name), and, for an agent, "
            "awaiting=true: the open debates whose current round waits for its turn."
        ),
        parameters=[SLUG, DebateFilter],
        responses={200: DebateBriefOut(many=True), **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        filters = parse_query(DebateFilter, request)
        if filters["awaiting"] and actor.agent is None:
            raise ValidationFailed(
                "awaiting=true needs an agent token: it keeps the debates waiting for the "
                "calling agent's turn. Use participant=<name> to see an agent's debates.",
                code="awaiting_needs_agent",
            )
        participant = filters.get("participant")
        debates = selectors.debates_of(
            project,
            status=filters.get("status"),
            awaiting=actor.agent if filters["awaiting"] else None,
            participant=get_agent(project=project, name=participant) if participant else None,
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(debates, request, view=self) or []
        return paginator.get_paginated_response(selectors.briefs(page))

    @extend_schema(
        tags=["debates"],
        summary="Open a debate (agents and humans)",
        description=(
            "Between two or more agents of the project (an agent opening it takes part), on a "
            "contract version, a task or a free topic, optionally with an opening proposal P1. "
            "Round 1 opens at once and is blind. Or give from_delta=<seq> to turn a contract "
            "proposal into a debate between its proposer and the contract's owner. The "
            "participants are told by a 'debate' delta."
        ),
        parameters=[SLUG],
        request=DebateOpenIn,
        responses={201: DebateOut, **error_responses(400, 404)},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        data = dict(parse_body(DebateOpenIn, request))
        if "from_delta" in data:
            debate = services.open_debate_from_proposal(
                project=project, actor=actor, seq=data["from_delta"], topic=data.get("topic", "")
            )
        else:
            debate = services.open_debate(project=project, actor=actor, **data)
        body = selectors.debate_as_dict(debate, viewer=actor.agent)
        return Response(body, status=status.HTTP_201_CREATED)


class DebateDetailView(PeerCodeView):
    @extend_schema(
        tags=["debates"],
        summary="One debate in full, as the caller may see it",
        description=(
            "Rounds with their tallies, proposals with their supporters, turns with objections, "
            "answers and evidence, stance history, escalation and decision. While the first "
            "round of a set is open, an agent sees only its own turn and proposal in it; a "
            "human sees everything."
        ),
        parameters=[SLUG, DEBATE_ID, DebateQuery],
        responses={200: DebateOut, **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str, debate_id: int) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        query = parse_query(DebateQuery, request)
        debate = selectors.get_debate(project=project, debate_id=debate_id)
        return Response(
            selectors.debate_as_dict(debate, viewer=actor.agent, whole=query.get("whole_proposal"))
        )


class DebateTurnView(PeerCodeView):
    permission_classes = [IsAuthenticated, DebateAgentsOnly]

    @extend_schema(
        tags=["debates"],
        summary="Take your turn in the current round (participants only)",
        description=(
            "Propose a concrete alternative or support a proposal you can see, with a "
            "rationale, objections to other proposals, answers to the objections raised last "
            "round against your position, and evidence. One turn per round; the last turn of a "
            "round closes it (round_closed: its tally). 201 when taken; 200 with replayed=true "
            "when client_key repeats a turn already taken with the same content."
        ),
        parameters=[SLUG, DEBATE_ID],
        request=TurnIn,
        responses={
            201: TurnResultOut,
            200: OpenApiResponse(TurnResultOut, description="A replay of a turn already taken."),
            **error_responses(400, 404, 409),
        },
    )
    def post(self, request: Request, slug: str, debate_id: int) -> Response:
        project = get_project(slug=slug, actor=actor_from_request(request))
        data = parse_body(TurnIn, request)
        agent = agent_from_request(request)
        # The service finds the debate in the agent's project, which get_project made sure is
        # the URL's.
        result = services.submit_turn(agent=agent, debate_id=debate_id, **data)
        turn = result.turn
        # Read it again: an escalation may have attached the mediator's summary since.
        debate = selectors.get_debate(project=project, debate_id=debate_id)
        body = {
            "turn": {
                "round": turn.round_number,
                "kind": turn.kind,
                "stance": turn.stance.label if turn.stance else None,
                "moved": turn.moved,
            },
            "replayed": result.replayed,
            "round_closed": result.closed.tally.as_json() if result.closed else None,
            "debate": selectors.debate_as_dict(debate, viewer=agent),
        }
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return Response(body, status=code)


class DebateWithdrawView(PeerCodeView):
    @extend_schema(
        tags=["debates"],
        summary="Withdraw an open debate (the agent that opened it, or a staff human)",
        description="Closes the current round and ends the debate without a decision.",
        parameters=[SLUG, DEBATE_ID],
        request=WithdrawIn,
        responses={200: DebateOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str, debate_id: int) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        data = parse_body(WithdrawIn, request)
        debate = selectors.get_debate(project=project, debate_id=debate_id)
        debate = services.withdraw_debate(debate=debate, actor=actor, **data)
        return Response(selectors.debate_as_dict(debate, viewer=actor.agent))


DECISIONS: dict[str, Callable[..., Debate]] = {
    "accept": services.accept_proposal,
    "edit": services.decide_edited,
    "reject": services.reject_proposals,
    "return": services.return_to_agents,
}


class DebateDecideView(PeerCodeView):
    @extend_schema(
        tags=["debates"],
        summary="Decide an escalated debate (staff humans only)",
        description=(
            "accept: a proposal becomes the decision (proposal; optional reason). edit: your "
            "own text, usually an edit of a proposal (text; optional based_on, reason). reject: "
            "every proposal, with a reason. return: a fresh set of rounds with guidance "
            "(guidance). A decision on a contract debate becomes the contract's next version "
            "and a breaking contract change for its consumers; who disagreed is kept as dissent."
        ),
        parameters=[SLUG, DEBATE_ID],
        request=DecideIn,
        responses={200: DebateOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str, debate_id: int) -> Response:
        actor = actor_from_request(request)
        project = get_project(slug=slug, actor=actor)
        data = dict(parse_body(DecideIn, request))
        decide = DECISIONS[data.pop("action")]
        debate = selectors.get_debate(project=project, debate_id=debate_id)
        debate = decide(debate=debate, actor=actor, **data)
        return Response(selectors.debate_as_dict(debate, viewer=actor.agent))


class DebateSearchView(PeerCodeView):
    permission_classes = [IsAuthenticated, DebateAgentsOnly]

    @extend_schema(
        tags=["debates"],
        summary="Search the web for evidence (agents only)",
        description=(
            "Through the server's search provider. Each result is kept as PeerCode retrieved "
            "it, so a turn can cite it by id ({'search_result': id}) with its provider, query "
            "and retrieval time. 503 when no provider is configured; 502 when it fails."
        ),
        parameters=[SLUG],
        request=SearchIn,
        responses={
            200: SearchOut,
            **error_responses(400, 404),
            502: OpenApiResponse(ERROR_SCHEMA, description="The search provider failed."),
            503: OpenApiResponse(
                ERROR_SCHEMA, description="No search provider is configured on this server."
            ),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        get_project(slug=slug, actor=actor_from_request(request))
        data = parse_body(SearchIn, request)
        kept = services.search_web(agent=agent_from_request(request), **data)
        return Response(selectors.search_as_dict(kept))
