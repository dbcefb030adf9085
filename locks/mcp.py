"""PeerCode's MCP tools for locks and the push queue.

They register on the one :data:`peercode.mcp.server.server` like every app's ``mcp.py`` and
follow the same rules: each parses its arguments and calls the services and selectors of
``locks``; domain errors (a conflict names every lock in the way) come back as ``isError``
results through :func:`peercode.mcp.shared.call`. A lock or push ticket is always named by its
id, which the tool that created it returned. Their shapes, :class:`~peercode.mcp.shared.LockOut`
and :class:`~peercode.mcp.shared.TicketOut`, are shared with the delta tools.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from locks import push, selectors, services
from peercode.actors import Actor
from peercode.mcp.server import server
from peercode.mcp.shared import (
    READ_ONLY,
    LockOut,
    NoNul,
    TaskKey,
    TicketOut,
    agent_of,
    call,
    lock_out,
    ticket_out,
)

ScopeName = Literal["file", "section", "lines"]
ModeName = Literal["exclusive", "shared"]
LockPath = Annotated[
    str,
    NoNul,
    Field(
        min_length=1,
        max_length=1000,
        description="A repository-relative file path with forward slashes, e.g. "
        "'src/auth/service.py' (no leading '/', no '..').",
    ),
]
Section = Annotated[
    str,
    NoNul,
    Field(max_length=300, description="section scope: the symbol, e.g. 'AuthService.login'."),
]
Line = Annotated[int, Field(ge=1, description="A 1-based line number.")]
LockId = Annotated[int, Field(ge=1, description="The lock's id, as acquire_lock returned it.")]
TicketId = Annotated[
    int, Field(ge=1, description="The push ticket's id, as request_push returned it.")
]
Ttl = Annotated[
    int,
    Field(
        ge=1,
        description="Lease length in seconds (default: the project's; bounded by the project's "
        "maximum).",
    ),
]
MUTATES = ToolAnnotations(
    read_only_hint=False, idempotent_hint=False, destructive_hint=False, open_world_hint=False
)

# Output shapes ---------------------------------------------------------------------------


class AcquireOut(BaseModel):
    lock: LockOut
    granted: bool = Field(description="True: you hold it now. False: you wait in line.")
    position: int | None = Field(description="Your place in line when waiting (1 = next).")
    warnings: list[str] = Field(
        description="Breaking contract changes you have not acknowledged (get_updates)."
    )
    message: str


class LocksOut(BaseModel):
    locks: list[LockOut] = Field(description="Live locks, oldest grant first.")
    waiting: list[LockOut] = Field(description="Requests waiting in line, in arrival order.")


class WantedLock(BaseModel):
    path: LockPath
    scope: ScopeName = "file"
    section: Section = ""
    start_line: Line | None = None
    end_line: Line | None = None
    mode: ModeName = "exclusive"


class ConflictAnswer(BaseModel):
    path: str
    scope: str
    section: str | None
    start_line: int | None
    end_line: int | None
    mode: str
    free: bool = Field(description="True: acquire_lock would grant it now.")
    conflicts: list[LockOut] = Field(description="The locks and requests in the way.")


class ConflictsOut(BaseModel):
    answers: list[ConflictAnswer] = Field(description="One per wanted lock, in order.")


class PushRequestOut(BaseModel):
    ticket: TicketOut
    position: int = Field(description="0: your turn now (push, then complete_push); n: n ahead.")
    already_in_line: bool = Field(description="You had asked before; this is that ticket.")
    warnings: list[str]
    message: str


class PushStatusOut(BaseModel):
    branch: str
    head: str | None = Field(description="The last commit recorded on the branch.")
    line: list[TicketOut] = Field(description="Tickets in order: the active one first.")
    your_ticket: int | None
    your_position: int | None


# Tools -----------------------------------------------------------------------------------


@server.tool(title="Acquire a lock", annotations=MUTATES)
async def acquire_lock(
    path: LockPath,
    ctx: Context,
    scope: Annotated[
        ScopeName,
        Field(
            description="file: the whole file; section: a named symbol (give 'section', "
            "optionally with its line range); lines: start_line..end_line."
        ),
    ] = "file",
    section: Section = "",
    start_line: Line | None = None,
    end_line: Line | None = None,
    mode: Annotated[
        ModeName,
        Field(description="exclusive: you will edit it; shared: you read it and want it stable."),
    ] = "exclusive",
    ttl_seconds: Ttl | None = None,
    reason: Annotated[str, NoNul, Field(max_length=500, description="Why, for your peers.")] = "",
    task: Annotated[TaskKey | None, Field(description="The task you lock it for.")] = None,
    wait: Annotated[
        bool,
        Field(
            description="true: join the line when it conflicts and get it (in arrival order) "
            "when it clears; you are told by get_updates/wait_for_updates and over WebSocket. "
            "false: refuse at once, naming each conflicting lock."
        ),
    ] = False,
) -> AcquireOut:
    """Lease a file, a section of it or a line range of it before you edit it, so that no peer
    edits the same code at the same time. Exclusive locks conflict with any overlapping lock of
    another agent; shared ones only with exclusive ones. The lease ends after ttl_seconds
    unless you renew_lock it; release_lock it as soon as you are done. The result carries a
    fencing token. Also warns of breaking contract changes you have not acknowledged."""
    agent = agent_of(ctx)

    def acquire() -> AcquireOut:
        result = services.acquire_lock(
            agent=agent,
            path=path,
            scope=scope,
            section=section,
            start_line=start_line,
            end_line=end_line,
            mode=mode,
            ttl_seconds=ttl_seconds,
            reason=reason,
            task_key=task,
            wait=wait,
        )
        lock = selectors.as_dict(result.lock)
        if result.granted:
            message = (
                f"Granted: lock #{lock['id']} on {lock['path']} until {lock['expires_at']}, "
                f"fencing token {lock['fencing_token']}."
            )
        else:
            message = (
                f"Waiting: lock #{lock['id']} is number {result.position} in line; you will be "
                "told when it is granted (wait_for_updates, or your WebSocket)."
            )
        return AcquireOut(
            lock=lock_out(lock),
            granted=result.granted,
            position=result.position,
            warnings=result.warnings,
            message=message,
        )

    return await call(acquire)


@server.tool(title="Renew a lock", annotations=MUTATES)
async def renew_lock(lock_id: LockId, ctx: Context, ttl_seconds: Ttl | None = None) -> LockOut:
    """Extend the lease of a lock you hold by ttl_seconds from now. A lock that has already
    expired or been released cannot be renewed: acquire it again."""
    agent = agent_of(ctx)
    return await call(
        lambda: lock_out(
            selectors.as_dict(
                services.renew_lock(
                    actor=Actor.for_agent(agent), lock_id=lock_id, ttl_seconds=ttl_seconds
                )
            )
        )
    )


@server.tool(
    title="Release a lock",
    annotations=ToolAnnotations(
        read_only_hint=False, idempotent_hint=False, destructive_hint=True, open_world_hint=False
    ),
)
async def release_lock(lock_id: LockId, ctx: Context) -> LockOut:
    """Release a lock you hold (or give up a request waiting in line); waiting peers get it in
    arrival order."""
    agent = agent_of(ctx)
    return await call(
        lambda: lock_out(
            selectors.as_dict(services.release_lock(actor=Actor.for_agent(agent), lock_id=lock_id))
        )
    )


@server.tool(title="List locks", annotations=READ_ONLY)
async def list_locks(
    ctx: Context,
    path: Annotated[
        str | None, NoNul, Field(max_length=1000, description="Only locks on this path.")
    ] = None,
    mine: Annotated[bool, Field(description="Only your own locks and requests.")] = False,
) -> LocksOut:
    """The project's live locks and the requests waiting in line, with holders, ranges, modes
    and expiry times. Read-only."""
    agent = agent_of(ctx)

    def read() -> LocksOut:
        board = selectors.lock_board(agent.project, holder=agent.name if mine else None, path=path)
        return LocksOut(
            locks=[lock_out(lock) for lock in board["locks"]],
            waiting=[lock_out(lock) for lock in board["waiting"]],
        )

    return await call(read)


@server.tool(title="Check for lock conflicts", annotations=READ_ONLY)
async def check_conflicts(
    locks: Annotated[
        list[WantedLock],
        Field(min_length=1, max_length=100, description="The locks you are thinking of taking."),
    ],
    ctx: Context,
) -> ConflictsOut:
    """Dry run: would these locks be granted now, and if not, whose locks are in the way?
    Changes nothing."""
    agent = agent_of(ctx)

    def check() -> ConflictsOut:
        answers = services.check_conflicts(
            agent=agent, specs=[wanted.model_dump() for wanted in locks]
        )
        return ConflictsOut(
            answers=[
                ConflictAnswer.model_validate(
                    {**answer, "conflicts": [lock_out(lock) for lock in answer["conflicts"]]}
                )
                for answer in answers
            ]
        )

    return await call(check)


@server.tool(title="Ask to push", annotations=MUTATES)
async def request_push(
    ctx: Context,
    branch: Annotated[
        str | None,
        NoNul,
        Field(max_length=200, description="Default: the project's integration branch."),
    ] = None,
    paths: Annotated[
        list[LockPath], Field(max_length=500, description="The files your push changes.")
    ] = [],  # noqa: B006 -- pydantic copies defaults; the list is never shared
) -> PushRequestOut:
    """Join the line to push to the shared integration branch (pushes are serialized). When
    position is 0 it is your turn: you hold a short push lease with a fencing token; push,
    then call complete_push with the ticket, the commit and the token. Otherwise wait (you are
    told when your turn comes) and check with push_status. Asking again returns your ticket."""
    agent = agent_of(ctx)

    def ask() -> PushRequestOut:
        result = push.request_push(agent=agent, branch=branch, paths=paths or None)
        ticket = push.ticket_as_dict(result.ticket)
        if result.position == 0:
            message = (
                f"Your turn: push to {ticket['branch']} before {ticket['expires_at']}, then "
                f"complete_push(ticket={ticket['id']}, fencing_token="
                f"{ticket['fencing_token']})."
            )
        else:
            message = f"In line: {result.position} ahead of you for {ticket['branch']}."
        return PushRequestOut(
            ticket=ticket_out(ticket),
            position=result.position,
            already_in_line=result.already_in_line,
            warnings=result.warnings,
            message=message,
        )

    return await call(ask)


@server.tool(title="Push queue status", annotations=READ_ONLY)
async def push_status(
    ctx: Context,
    branch: Annotated[
        str | None, NoNul, Field(max_length=200, description="Default: the integration branch.")
    ] = None,
) -> PushStatusOut:
    """Who is pushing to the branch, who waits in which order, your place, and the last
    recorded head."""
    agent = agent_of(ctx)

    def read() -> PushStatusOut:
        status = push.push_status(agent=agent, branch=branch)
        return PushStatusOut(
            branch=status["branch"],
            head=status["head"],
            line=[ticket_out(ticket) for ticket in status["line"]],
            your_ticket=status["your_ticket"],
            your_position=status["your_position"],
        )

    return await call(read)


@server.tool(title="Complete your push", annotations=MUTATES)
async def complete_push(
    ticket: TicketId,
    commit_sha: Annotated[
        str,
        Field(
            min_length=4,
            max_length=64,
            pattern=r"^[0-9a-fA-F]+$",
            description="The commit you pushed (the branch head now).",
        ),
    ],
    fencing_token: Annotated[
        int, Field(ge=1, description="The push lease's token from request_push.")
    ],
    ctx: Context,
) -> TicketOut:
    """End your turn: record the commit you pushed. When the project has a git repository the
    server checks that the branch head is that commit, that it fast-forwards the previous
    head, and that no file it changes is locked exclusively by another agent; what it finds is
    in violations (and reported to the humans). The turn passes to the next in line."""
    agent = agent_of(ctx)
    return await call(
        lambda: ticket_out(
            push.ticket_as_dict(
                push.complete_push(
                    agent=agent,
                    ticket_id=ticket,
                    commit_sha=commit_sha,
                    fencing_token=fencing_token,
                )
            )
        )
    )


@server.tool(
    title="Leave the push queue",
    annotations=ToolAnnotations(
        read_only_hint=False, idempotent_hint=False, destructive_hint=True, open_world_hint=False
    ),
)
async def abandon_push(ticket: TicketId, ctx: Context) -> TicketOut:
    """Leave the push queue: give up your place in line, or your turn if it has come (the push
    lease ends and the next agent in line gets the turn at once). Use it when you will not push
    after all; ask again with request_push to rejoin at the end."""
    agent = agent_of(ctx)
    return await call(
        lambda: ticket_out(
            push.ticket_as_dict(push.abandon_push(actor=Actor.for_agent(agent), ticket_id=ticket))
        )
    )
