"""REST views for contracts and their immutable, numbered versions.

Contract names may contain spaces, ':' and '/', so the URL takes the rest of the path up to
the final '/' (or '/versions') as the name, restricted to the characters a name may have:
``contracts/Auth API/v2/`` is the contract 'Auth API/v2', and ``contracts/Auth API/v2/versions``
publishes a version of it. Clients percent-encode spaces as usual.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from deltas.services import publish_contract_change
from peercode.api import PeerCodeView, actor_from_request, error_responses, parse_body
from projects import selectors, services
from projects.api.projects import SLUG
from projects.api.serializers import (
    ContractCreateIn,
    ContractDetailOut,
    ContractOut,
    ContractPublishedOut,
    ContractVersionIn,
    ContractVersionOut,
)

CONTRACT_NAME = OpenApiParameter(
    "name",
    str,
    OpenApiParameter.PATH,
    description="The contract's name; it may contain spaces, ':' and '/' (percent-encode spaces).",
)


class ContractListView(PeerCodeView):
    @extend_schema(
        tags=["contracts"],
        summary="List a project's contracts",
        parameters=[SLUG],
        responses={200: ContractOut(many=True), **error_responses(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        return self.paginate(selectors.contracts_of(project), ContractOut)

    @extend_schema(
        tags=["contracts"],
        summary="Add a contract, optionally with its first version",
        parameters=[SLUG],
        request=ContractCreateIn,
        responses={201: ContractDetailOut, **error_responses(400, 404, 409)},
    )
    def post(self, request: Request, slug: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        data = dict(parse_body(ContractCreateIn, request))
        if "owner_task" in data:
            data["owner_task_key"] = data.pop("owner_task")
        contract = services.add_contract(project=project, actor=actor, **data)
        return Response(ContractDetailOut(contract).data, status=status.HTTP_201_CREATED)


class ContractDetailView(PeerCodeView):
    @extend_schema(
        tags=["contracts"],
        summary="Show a contract with every version",
        parameters=[SLUG, CONTRACT_NAME],
        responses={200: ContractDetailOut, **error_responses(404)},
    )
    def get(self, request: Request, slug: str, name: str) -> Response:
        project = selectors.get_project(slug=slug, actor=actor_from_request(request))
        return Response(ContractDetailOut(selectors.get_contract(project=project, name=name)).data)


class ContractVersionsView(PeerCodeView):
    @extend_schema(
        tags=["contracts"],
        summary="Publish the next version of a contract (its owner or a human lead)",
        description=(
            "Only the contract's owner publishes: the agent assigned to the task that provides "
            "it, or a human lead. The version is propagated at once as a contract_change delta "
            "to every consumer (delta_seq). Anyone else is refused (403 not_contract_owner) "
            "and proposes instead: POST .../deltas/ with kind contract_change and the spec, or "
            "open a debate."
        ),
        parameters=[SLUG, CONTRACT_NAME],
        request=ContractVersionIn,
        responses={201: ContractPublishedOut, **error_responses(400, 404)},
    )
    def post(self, request: Request, slug: str, name: str) -> Response:
        actor = actor_from_request(request)
        project = selectors.get_project(slug=slug, actor=actor)
        contract = selectors.get_contract(project=project, name=name)
        data = parse_body(ContractVersionIn, request)
        result = publish_contract_change(contract=contract, actor=actor, **data)
        body = {**ContractVersionOut(result.contract_version).data, "delta_seq": result.delta.seq}
        return Response(body, status=status.HTTP_201_CREATED)
