"""What the lock and push-queue views share: the URL parameters, the largest row id a URL may
name, and who may call them."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.views import APIView

from peercode.api import AgentsOnly, is_agent_request

LOCK_ID = OpenApiParameter(
    "lock_id", int, OpenApiParameter.PATH, description="The lock's id, as acquiring it returned."
)
TICKET_ID = OpenApiParameter(
    "ticket_id",
    int,
    OpenApiParameter.PATH,
    description="The push ticket's id, as asking to push returned it.",
)


class LockAgentsOnly(AgentsOnly):
    """Only an agent: locks, dry runs and places in the push line are an agent's own."""

    message = (
        "Only an agent can do this, with its own token ('Authorization: Bearer <agent "
        "token>'): locks and places in the push line belong to agents. A human can list them, "
        "and a staff human can renew or release a lock and take a ticket out of the line."
    )


class AgentsChange(LockAgentsOnly):
    """Anyone may read; only an agent may ask for a lock or a place in the push line."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.method in SAFE_METHODS or is_agent_request(request)
