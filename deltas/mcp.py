"""PeerCode's MCP tools for context deltas: push one, read them, acknowledge them, wait for them.

They register on the one :data:`peercode.mcp.server.server` like every app's ``mcp.py`` and
follow the same rules: each parses its arguments and calls the services and selectors of
``deltas``; domain errors come back as ``isError`` results through
:func:`peercode.mcp.shared.call`.

``wait_for_updates`` is the long poll for clients that do not show server notifications to the
model: it joins the project's Channels group (the one :func:`deltas.services.broadcast` sends
to after commit), reads the database whenever a live delta arrives and every few seconds in
case a message was missed, and reports progress while it waits.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Annotated, Any, Literal

import anyio
from channels.layers import get_channel_layer
from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from deltas import selectors, services
from locks import notices
from locks import selectors as lock_selectors
from locks.push import ticket_as_dict
from peercode.actors import Actor
from peercode.errors import ValidationFailed
from peercode.mcp.server import server
from peercode.mcp.shared import (
    READ_ONLY,
    LockOut,
    NoNul,
    NulFreeStr,
    TaskKey,
    TicketOut,
    agent_of,
    call,
    lock_out,
    ticket_out,
)
from projects.models import Agent

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# A waiting client hears this often that the wait goes on (and its connection stays busy).
PROGRESS_SECONDS = 2.0
# The database is read this often while waiting, in case a live message was missed (a
# subscriber joining late, a channel layer dropping a message under load).
RECHECK_SECONDS = 5.0
# What LiveDeltas.next_seq answers for a grant to the waiting agent: beyond any seq, so that
# the wait reads the database at once.
GRANT = 2**62

Kind = Literal[
    "contract_change", "new_dependency", "scope_shift", "decision", "discovery", "blocker", "status"
]
SignificanceLevel = Literal["info", "normal", "breaking"]
# Field before NoNul: after a validator, pydantic would leave the pattern out of the schema.
ContractName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=120,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/ -]*$",
        description="A contract's name, e.g. 'AuthAPI'.",
    ),
    NoNul,
]
RepoPath = Annotated[
    str,
    NoNul,
    Field(
        min_length=1,
        max_length=500,
        description="A repository-relative path or glob, e.g. 'src/auth/**'.",
    ),
]
Seq = Annotated[int, Field(ge=0, description="A delta sequence number (0: before the first).")]
SinceToken = Annotated[
    int,
    Field(
        ge=0,
        description="Report lock grants and push turns you waited for with a fencing token "
        "after this one (next_token from your last call; default 0: all you still hold).",
    ),
]


# Output shapes ---------------------------------------------------------------------------


class DeltaOut(BaseModel):
    """One delta, as :func:`deltas.selectors.as_dict` shapes it everywhere."""

    seq: int = Field(description="Its number in the project: 1, 2, 3 ... with no gap.")
    kind: str = Field(
        description="contract_change, new_dependency, scope_shift, decision, discovery, "
        "blocker, status, or debate (sent by the server as a debate you take part in moves)."
    )
    significance: str = Field(description="info, normal or breaking.")
    summary: str
    body: str = Field(description="Details, in markdown (may be empty).")
    author: str = Field(description="Who pushed it, e.g. 'agent:claude-backend', 'user:alice'.")
    tasks: list[str] = Field(description="Keys of the tasks it touches.")
    contracts: list[str] = Field(description="Names of the contracts it touches.")
    paths: list[str] = Field(description="Repository paths or globs it touches.")
    agents: list[str] = Field(
        description="Agents it is addressed to by name (a debate's participants), if any."
    )
    contract_version: int | None = Field(
        description="The contract version this change published (its author owns the "
        "contract), or null."
    )
    proposed_spec: str | None = Field(
        description="A spec proposed to the contract's owner by someone who does not own it."
    )
    folded: int = Field(description="How many duplicate pushes were folded into this delta.")
    created_at: str = Field(description="When it was pushed (ISO 8601).")


class DeltaForYou(DeltaOut):
    relevant: bool = Field(
        description="It concerns you: it touches your task, a task next to yours in the plan, "
        "a contract your task provides or consumes, or your files; or it is breaking."
    )
    breaking_for_you: bool = Field(
        description="Marked breaking, or a new version of a contract your task consumes: read "
        "it before you write more code."
    )


class PushOut(BaseModel):
    delta: DeltaOut
    folded: bool = Field(
        description="True: a duplicate of one of your pushes from the last few minutes, "
        "counted on that delta instead of stored anew."
    )
    published_version: int | None = Field(
        description="The contract version your spec became (you own the contract), or null."
    )
    message: str = Field(description="What happened, in a sentence.")


class UpdatesOut(BaseModel):
    deltas: list[DeltaForYou] = Field(description="Oldest first.")
    since: int = Field(description="The seq these deltas come after.")
    next_since: int = Field(
        description="Pass it as 'since' next time, and to ack_updates once you have read "
        "these: everything up to it was looked at."
    )
    more: bool = Field(description="More deltas after next_since matched; call again.")
    head: int = Field(description="The newest delta's seq in the project.")
    cursor: int = Field(description="The highest seq you have acknowledged.")
    drift: int = Field(description="Deltas that concern you and that you have not acknowledged.")
    granted_locks: list[LockOut] = Field(
        description="Locks you waited for (acquire_lock with wait=true) that are now yours, "
        "granted with a fencing token after since_token."
    )
    push_turns: list[TicketOut] = Field(
        description="Push tickets you waited for whose turn has come (push, then "
        "complete_push), granted after since_token."
    )
    next_token: int = Field(
        description="Pass it as since_token next time: grants up to it have been reported."
    )


class WaitOut(UpdatesOut):
    timed_out: bool = Field(description="True: nothing relevant arrived within timeout_s.")


class AckOut(BaseModel):
    cursor: int = Field(description="Your acknowledged seq now (it never moves back).")
    head: int = Field(description="The newest delta's seq in the project.")
    drift: int = Field(description="Deltas that concern you still unacknowledged (after cursor).")


def read_updates(
    agent: Agent, *, since: int | None, limit: int, only_relevant: bool, since_token: int = 0
) -> UpdatesOut:
    """Deltas after ``since`` (the agent's cursor when None), up to ``limit`` of them, and the
    grants the agent waited for with a fencing token after ``since_token``."""
    project = agent.project
    head = selectors.head_of(project)
    cursor = selectors.cursor_of(agent)
    start = cursor if since is None else since
    if start > head:
        raise ValidationFailed(
            f"since={start} is beyond the newest delta, #{head}. Pass the seq of the last delta "
            f"you received; your acknowledged cursor is {cursor}.",
            code="since_beyond_head",
            details={"head": head, "cursor": cursor},
        )
    interest = selectors.interest_of(agent)
    chosen: list[DeltaForYou] = []
    more = False
    for delta in selectors.feed(project, since=start, until=head):
        shape = selectors.as_dict(delta, interest)
        if only_relevant and not shape["relevant"]:
            continue
        if len(chosen) == limit:
            more = True
            break
        chosen.append(DeltaForYou(**shape))
    news = notices.notices_for(agent, after_token=since_token)
    return UpdatesOut(
        granted_locks=[lock_out(lock_selectors.as_dict(lock)) for lock in news.granted_locks],
        push_turns=[ticket_out(ticket_as_dict(ticket)) for ticket in news.push_turns],
        next_token=news.last_token,
        deltas=chosen,
        since=start,
        next_since=chosen[-1].seq if more else head,
        more=more,
        head=head,
        cursor=cursor,
        drift=len(selectors.drift_of(agent)),
    )


class LiveDeltas:
    """A subscription to the project's Channels group for the length of one wait.

    Best effort by design: when no channel layer is configured or it fails, the wait falls
    back to reading the database every few seconds, which is always the source of truth.
    """

    def __init__(self, project_id: int, agent_id: int) -> None:
        self.group = services.group_name(project_id)
        self.agent_id = agent_id
        self.layer: Any = get_channel_layer()
        self.channel: str | None = None

    async def __aenter__(self) -> LiveDeltas:
        if self.layer is not None:
            try:
                channel = await self.layer.new_channel()
                await self.layer.group_add(self.group, channel)
                self.channel = channel
            except Exception:
                logger.warning("joining %s failed; waits poll", self.group, exc_info=True)
        return self

    async def next_seq(self, timeout: float) -> int | None:
        """The seq of the next live delta within ``timeout`` seconds, or None; a grant to this
        agent (a lock it waited for, its push turn) counts as :data:`GRANT`."""
        if self.channel is None:
            await asyncio.sleep(timeout)
            return None
        try:
            message = await asyncio.wait_for(self.layer.receive(self.channel), timeout)
        except TimeoutError:
            return None
        except Exception:
            logger.warning("receiving from %s failed; waits poll", self.group, exc_info=True)
            await self._leave()
            return None
        if notices.is_notice_for(message, self.agent_id):
            return GRANT
        seq = (message.get("delta") or {}).get("seq")
        return seq if isinstance(seq, int) else None

    async def _leave(self) -> None:
        channel, self.channel = self.channel, None
        if channel is None:
            return
        # Shielded: a client that hangs up cancels the wait, and the group must still lose us.
        with anyio.CancelScope(shield=True):
            try:
                await self.layer.group_discard(self.group, channel)
            except Exception:
                logger.warning("leaving %s failed", self.group, exc_info=True)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._leave()


# Tools -----------------------------------------------------------------------------------


@server.tool(
    title="Push a context delta",
    annotations=ToolAnnotations(
        read_only_hint=False, idempotent_hint=False, destructive_hint=False, open_world_hint=False
    ),
)
async def push_delta(
    kind: Annotated[
        Kind,
        Field(
            description="contract_change: an interface changed (give 'spec' to publish or "
            "propose the new one); new_dependency; scope_shift: a task grew, shrank or moved; "
            "decision; discovery: a fact peers should know; blocker; status."
        ),
    ],
    summary: Annotated[
        str,
        NoNul,
        Field(
            min_length=1,
            max_length=200,
            description="One line saying what changed, e.g. 'AuthAPI login now returns a "
            "refresh token'.",
        ),
    ],
    ctx: Context,
    significance: Annotated[
        SignificanceLevel,
        Field(
            description="breaking: peers must adapt their code (it concerns every agent); "
            "normal; info: good to know."
        ),
    ] = "normal",
    body: Annotated[str, NoNul, Field(max_length=20000, description="Details, in markdown.")] = "",
    tasks: Annotated[
        list[TaskKey], Field(max_length=200, description="Keys of the tasks it touches.")
    ] = [],  # noqa: B006 -- pydantic copies defaults; the list is never shared
    contracts: Annotated[
        list[ContractName], Field(max_length=200, description="Contracts it touches, by name.")
    ] = [],  # noqa: B006
    paths: Annotated[
        list[RepoPath], Field(max_length=200, description="Files or globs it touches.")
    ] = [],  # noqa: B006
    spec: Annotated[
        NulFreeStr | None,
        Field(
            min_length=1,
            max_length=200_000,
            description="contract_change only, with exactly one contract: the complete new "
            "spec. Published as the next version if you hold the task that provides the "
            "contract; otherwise recorded as a proposal for its owner.",
        ),
    ] = None,
    rationale: Annotated[
        str,
        NoNul,
        Field(max_length=2000, description="Why the spec changed (kept with the version)."),
    ] = "",
) -> PushOut:
    """Tell your peers about something they must know: a changed interface, a new dependency,
    a shift of scope, a decision, a discovery, a blocker. The delta gets the project's next
    sequence number and reaches every agent it concerns at once (those whose tasks, contracts
    or files it touches; everyone when it is breaking). Pushing the same summary and touched
    items again within a few minutes is folded into your earlier delta, and the result says
    so. Task keys and contract names must exist in your project."""
    agent = agent_of(ctx)

    def push() -> PushOut:
        result = services.push_delta(
            project=agent.project,
            actor=Actor.for_agent(agent),
            kind=kind,
            summary=summary,
            significance=significance,
            body=body,
            tasks=tasks,
            contracts=contracts,
            paths=paths,
            spec=spec,
            rationale=rationale,
        )
        delta = result.delta
        version = result.contract_version.number if result.contract_version else None
        if result.folded:
            message = (
                f"Folded into your delta #{delta.seq}, which said the same a moment ago "
                f"(now {delta.folded} duplicate(s)); nothing new was sent."
            )
        elif version is not None:
            message = f"Pushed as #{delta.seq}; {delta.contracts[0]} is now at version {version}."
        elif delta.proposed_spec:
            message = (
                f"Pushed as #{delta.seq}; you do not own {delta.contracts[0]}, so your spec is "
                "recorded as a proposal for the agent whose task provides it."
            )
        else:
            message = f"Pushed as #{delta.seq}."
        return PushOut(
            delta=DeltaOut(**selectors.as_dict(delta)),
            folded=result.folded,
            published_version=version,
            message=message,
        )

    return await call(push)


@server.tool(title="Get context deltas", annotations=READ_ONLY)
async def get_updates(
    ctx: Context,
    since: Annotated[
        int | None,
        Field(
            ge=0,
            description="Return deltas after this seq; leave out for everything after what "
            "you have acknowledged.",
        ),
    ] = None,
    limit: Annotated[
        int, Field(ge=1, le=MAX_LIMIT, description="At most this many deltas (default 50).")
    ] = DEFAULT_LIMIT,
    only_relevant: Annotated[
        bool,
        Field(description="true (default): only deltas that concern you; false: the whole feed."),
    ] = True,
    since_token: SinceToken = 0,
) -> UpdatesOut:
    """The context deltas your peers pushed after 'since', oldest first: by default only those
    that concern you, each marked relevant and breaking_for_you. Also your acknowledged cursor,
    the project's head and your drift (how many deltas concerning you are unacknowledged). Read
    them, adapt, then call ack_updates with next_since. Also the locks you waited for that are
    now yours and your push turn, if it came while you waited. Read-only."""
    agent = agent_of(ctx)
    return await call(
        lambda: read_updates(
            agent,
            since=since,
            limit=limit,
            only_relevant=only_relevant,
            since_token=since_token,
        )
    )


@server.tool(
    title="Acknowledge context deltas",
    annotations=ToolAnnotations(
        read_only_hint=False, idempotent_hint=True, destructive_hint=False, open_world_hint=False
    ),
)
async def ack_updates(
    seq: Annotated[
        int,
        Field(
            ge=0,
            description="Acknowledge every delta up to and including this seq (usually "
            "next_since from get_updates).",
        ),
    ],
    ctx: Context,
) -> AckOut:
    """Acknowledge that you have read the deltas up to 'seq': your cursor moves there, your
    drift shrinks, and warnings about breaking contract changes up to it stop. The cursor only
    moves forward (an older seq changes nothing); a seq newer than the project's newest delta
    is refused."""
    agent = agent_of(ctx)

    def ack() -> AckOut:
        cursor = services.ack_updates(agent=agent, seq=seq)
        return AckOut(
            cursor=cursor.acked_seq,
            head=selectors.head_of(agent.project),
            drift=len(selectors.drift_of(agent)),
        )

    return await call(ack)


@server.tool(title="Wait for context deltas", annotations=READ_ONLY)
async def wait_for_updates(
    since: Seq,
    ctx: Context,
    timeout_s: Annotated[
        int, Field(ge=1, le=300, description="Give up after this many seconds (default 60).")
    ] = 60,
    since_token: SinceToken = 0,
) -> WaitOut:
    """Wait until a delta that concerns you arrives after 'since', then return it: a long poll
    for clients that do not show server notifications. Returns at once when such deltas
    already exist; otherwise as soon as one is pushed, or after timeout_s with no deltas and
    timed_out=true (call it again to keep listening). Progress is reported while it waits.
    Your own deltas never wake you. A lock you waited for being granted, or your push turn
    coming, wakes you too (granted_locks, push_turns). Read-only: acknowledge with ack_updates
    afterwards."""
    agent = agent_of(ctx)

    def read() -> UpdatesOut:
        return read_updates(
            agent, since=since, limit=MAX_LIMIT, only_relevant=True, since_token=since_token
        )

    found = await call(read)
    if news(found):
        return WaitOut(**found.model_dump(), timed_out=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout_s
    async with LiveDeltas(agent.project_id, agent.pk) as live:
        # Read again now that we listen: a delta committed before we joined is not sent to us.
        found = await call(read)
        if not news(found):
            await ctx.report_progress(0, timeout_s, f"Waiting up to {timeout_s} s after #{since}.")
        next_check = loop.time() + RECHECK_SECONDS
        next_progress = started + PROGRESS_SECONDS
        while not news(found) and (now := loop.time()) < deadline:
            seq = await live.next_seq(max(min(deadline, next_check, next_progress) - now, 0.01))
            now = loop.time()
            if (seq is not None and seq > since) or now >= next_check:
                found = await call(read)
                next_check = now + RECHECK_SECONDS
            if not news(found) and next_progress <= now < deadline:
                waited = now - started
                await ctx.report_progress(
                    waited,
                    timeout_s,
                    f"Nothing for you after #{since} yet; waited {waited:.0f} of {timeout_s} s.",
                )
                next_progress = now + PROGRESS_SECONDS
        if not news(found):
            found = await call(read)
    return WaitOut(**found.model_dump(), timed_out=not news(found))


def news(found: UpdatesOut) -> bool:
    """Whether a wait has something to return: deltas for the agent, or a grant it waited for."""
    return bool(found.deltas or found.granted_locks or found.push_turns)
