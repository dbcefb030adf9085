"""What the debate views share: the URL parameter and who may take turns."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from peercode.api import AgentsOnly

DEBATE_ID = OpenApiParameter(
    "debate_id",
    int,
    OpenApiParameter.PATH,
    description="The debate's id, as opening it returned. Only the debates of the URL's project "
    "are found through its address.",
)


class DebateAgentsOnly(AgentsOnly):
    """Only an agent: turns and searches are a participant's own."""

    message = (
        "Only an agent can do this, with its own token ('Authorization: Bearer <agent "
        "token>'): turns and web searches belong to the debating agents. A human reads the "
        "debate, and a staff human decides it once it is escalated."
    )
