"""What the apps' MCP tool modules share: the calling agent, the way into Django, argument
types, and the output shapes more than one app's tools return.

Every tool does the same three things: :func:`agent_of` finds the agent the transport
authenticated, :func:`call` runs its Django code off the event loop, and its arguments are
checked by pydantic types such as :data:`TaskKey`. Domain errors come back as ``isError``
results whose text says what happened and what to do next; anything unexpected is logged here
and the agent gets a generic message, never a traceback.

:class:`LockOut` and :class:`TicketOut` live here, not in ``locks/mcp.py``, because the delta
tools report granted locks and push turns too, and no app's ``mcp`` module imports another's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from channels.db import database_sync_to_async
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from peercode.errors import PeerCodeError
from peercode.mcp.transport import AGENT_SCOPE_KEY
from projects.models import Agent

logger = logging.getLogger(__name__)
T = TypeVar("T")

READ_ONLY = ToolAnnotations(
    read_only_hint=True, idempotent_hint=True, destructive_hint=False, open_world_hint=False
)


def agent_of(ctx: Context) -> Agent:
    """The agent the transport authenticated for this request."""
    request = getattr(ctx.request_context, "request", None)
    agent = request.scope.get(AGENT_SCOPE_KEY) if request is not None else None
    if not isinstance(agent, Agent):
        raise ToolError("Not authenticated: connect with 'Authorization: Bearer <agent token>'.")
    return agent


async def call(function: Callable[[], T]) -> T:
    """Run Django code off the event loop; a domain error becomes the tool's error text."""
    try:
        return await database_sync_to_async(function)()
    except PeerCodeError as exc:
        raise ToolError(f"{exc.message} [{exc.code}]") from exc
    except ToolError:
        raise
    except Exception as exc:
        logger.exception("MCP tool failed unexpectedly")
        raise ToolError(
            "PeerCode hit an unexpected error; it has been logged. Try again, and tell a human "
            "if it keeps happening."
        ) from exc


# Argument types ----------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text, and no legitimate argument contains one.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\x00); remove them and retry")
    return value


class _NoNul:
    """Refuses NUL in text; on optional text (``Annotated[str | None, NoNul, Field(...)]``) it
    checks the string branch only, so null still means "not given" and the Field constraints
    that follow apply to the string, never to null (pydantic's AfterValidator would wrap the
    whole union and hand them None)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        if schema["type"] == "nullable":
            checked = core_schema.no_info_after_validator_function(_no_nul, schema["schema"])
            return core_schema.nullable_schema(checked)
        return core_schema.no_info_after_validator_function(_no_nul, schema)


NoNul = _NoNul()
NulFreeStr = Annotated[str, NoNul]

TaskKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="A task key such as 'P1-T3'.",
    ),
]


# Output shapes -----------------------------------------------------------------------------


class LockOut(BaseModel):
    """A lock (a lease) or a request waiting for one, as locks.selectors.as_dict shapes it."""

    id: int
    holder: str = Field(description="The agent holding (or waiting for) it.")
    path: str
    scope: str = Field(description="file, section or lines.")
    section: str | None
    start_line: int | None
    end_line: int | None
    mode: str = Field(description="exclusive or shared.")
    status: str = Field(description="held, waiting, released, expired or cancelled.")
    reason: str
    task: str | None
    fencing_token: int | None = Field(
        description="Set when granted; strictly increasing per project. Pass it to whatever "
        "acts on the repository on the strength of this lock."
    )
    ttl_seconds: int
    requested_at: str | None
    granted_at: str | None
    renewed_at: str | None
    expires_at: str | None = Field(
        description="When the lease ends (held) or the wait gives up (waiting)."
    )
    released_at: str | None
    released_by: str | None
    position: int | None = Field(description="Waiting only: requests ahead of this one, + 1.")


def lock_out(data: dict[str, Any]) -> LockOut:
    return LockOut.model_validate({name: data.get(name) for name in LockOut.model_fields})


class TicketOut(BaseModel):
    id: int
    branch: str
    agent: str
    status: str = Field(description="waiting, active, completed, abandoned or expired.")
    paths: list[str]
    fencing_token: int | None = Field(description="Set when your turn comes.")
    requested_at: str | None
    started_at: str | None
    expires_at: str | None = Field(description="When the push lease ends (active).")
    finished_at: str | None
    commit_sha: str | None
    previous_head: str | None
    violations: list[Any] = Field(
        description="What the git checks found wrong with the completed push (empty: none)."
    )
    position: int | None = None


def ticket_out(data: dict[str, Any]) -> TicketOut:
    return TicketOut.model_validate({name: data.get(name) for name in TicketOut.model_fields})
