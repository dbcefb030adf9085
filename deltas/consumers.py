"""Live delta delivery over WebSocket: ``/ws/projects/<slug>/?since=<seq>``.

Frames are JSON text, each with a ``type``.

Server to client:
  ``{"type": "delta", "delta": {...}}``  one delta in the wire shape of ``selectors.as_dict``
      (for an agent with ``relevant`` and ``breaking_for_you``); seq order, no gap, never twice
  ``{"type": "replay_done", "head": N}``  everything up to N has been sent; live deltas follow
  ``{"type": "acked", "seq": N}``  the agent's cursor after an ``ack``
  ``{"type": "pong"}``
  ``{"type": "lock_granted", "lock": {...}}``  (to that agent only) a lock it waited for is held
  ``{"type": "push_turn", "ticket": {...}}``  (to that agent only) its turn in the push queue
  ``{"type": "error", "code": ..., "message": ..., "details": ...}``  about a client frame (a bad
      one, or one over the rate limit: ``rate_limited``, with ``details.retry_after`` seconds),
      the connection stays open and the frame is not acted on. Otherwise the connection is
      closed right after it with code 4000 + the HTTP status of the error: 4400 bad ``since``,
      4401 not authenticated, or ``token_revoked`` (the agent's token was revoked or rotated:
      its sockets are closed at once, on every server process), 4403 another project, 4404
      unknown project or a path no stream is at, 4503 ``unavailable`` (the database cannot be
      reached: reconnect with ``since`` after ``details.retry_after`` seconds).

Client to server, JSON text of at most MAX_FRAME_CHARS characters, PEERCODE_RATE_LIMIT_WS per
token (or human) and window:
  ``{"type": "ack", "seq": N}``  (agents) acknowledge every delta up to N
  ``{"type": "ping"}``  also delivers anything the server holds beyond what was sent, so a client
      that pings now and then cannot stay behind if a live message was lost

Who may connect: an agent of the project, by ``Authorization: Bearer <token>`` (or, for clients
that cannot set headers, ``?token=<token>``), or a logged-in human (dashboard session). A
socket of an agent also joins the agent's own group, where a revocation or rotation of its
token arrives (``deltas.agent_sockets``); since that message can be lost like any other, every
ack, ping and replay checks the token against the database as well.

``since`` defaults to the agent's cursor (what it has not acknowledged yet) and, for a human,
to the project's head (live deltas only).

Ordering: the consumer joins its groups *before* it reads the database (the replay, which checks
the token again), so no delta and no revocation committed after the read can be missed; live
messages that arrive while it replays wait in its channel. Each live message is then compared
with the last seq sent: older ones are duplicates and dropped, the next one is sent, and one
further ahead means a message was lost, so the gap is filled from the database first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework import status

from deltas import agent_sockets, selectors, services
from deltas.models import Delta
from peercode import ratelimit
from peercode.actors import Actor
from peercode.auth import authenticate_agent_token, parse_bearer
from peercode.errors import (
    DATABASE_RETRY_SECONDS,
    DATABASE_UNAVAILABLE,
    PeerCodeError,
    RateLimited,
    ValidationFailed,
)
from projects.models import Agent, Project
from projects.selectors import get_project

# Deltas read from the database per query while replaying or filling a gap.
REPLAY_BATCH = 200
# How long, on average, an agent's interest (its tasks, contracts and globs) is trusted for
# marking live deltas relevant; then it is read again in the background, so that no live delta
# waits for the database. Replays and gap fills always read it afresh. Each read costs a
# connection and five queries, and with many subscribers they add up.
INTEREST_TTL_SECONDS = 15.0
CLOSE_CODE_BASE = 4000
SEQ_PATTERN = re.compile(r"[0-9]{1,18}")
CLIENT_FRAME_TYPES = ("ack", "ping")
# A client frame is an ack or a ping, a few dozen characters. A longer one is refused unread,
# which also bounds how deeply it can nest (Daphne closes on frames over 1 MiB itself).
MAX_FRAME_CHARS = 1024

logger = logging.getLogger(__name__)


class NotAuthenticated(PeerCodeError):
    http_status = status.HTTP_401_UNAUTHORIZED
    default_code = "not_authenticated"


class Unavailable(PeerCodeError):
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"

    def __init__(self) -> None:
        super().__init__(
            f"PeerCode cannot reach its database right now. Reconnect in {DATABASE_RETRY_SECONDS} "
            "seconds with '?since=<the last seq you received>' to miss nothing; tell a human if "
            "it keeps happening.",
            details={"retry_after": DATABASE_RETRY_SECONDS},
        )


@dataclass(frozen=True)
class Subscription:
    """Who is listening to which project's deltas, and from which seq on."""

    project: Project
    actor: Actor
    since: int

    @property
    def agent(self) -> Agent | None:
        return self.actor.agent

    @property
    def caller(self) -> str:
        """Whom this connection's frames are counted against (``peercode.ratelimit``)."""
        agent = self.actor.agent
        return agent.token_hash if agent is not None else f"user:{self.actor.user.pk}"


def token_of(scope: dict[str, Any]) -> str | None:
    """The bearer token: the ``Authorization`` header first, then ``?token=``."""
    token = None
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            token = parse_bearer(value)
    return token if token is not None else query_value(scope, "token")


def actor_of(token: str | None, user: Any) -> Actor:
    """The agent named by the bearer token, else the logged-in human; a token that matches no
    active agent is refused, not ignored."""
    if token is not None:
        agent = authenticate_agent_token(token)
        if agent is None:
            raise NotAuthenticated(
                "Unknown or revoked agent token. Ask a human for a new one ('python manage.py "
                "agent create --project SLUG NAME') and send it as 'Authorization: Bearer "
                "<token>'."
            )
        return Actor.for_agent(agent)
    if user is not None and user.is_authenticated:
        return Actor.for_user(user)
    raise NotAuthenticated(
        "Not authenticated: send 'Authorization: Bearer <agent token>' (or '?token=<agent "
        "token>' if your client cannot set headers), or log in to the dashboard first."
    )


def query_value(scope: dict[str, Any], name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[-1] if values else None


def parse_since(raw: str | None, *, head: int) -> int | None:
    if raw is None:
        return None
    if not SEQ_PATTERN.fullmatch(raw):
        raise ValidationFailed(
            f"since must be a whole number ≥ 0 (the last seq you received), got {raw!r}. "
            "Reconnect with e.g. '?since=0' to receive every delta.",
            code="bad_since",
        )
    since = int(raw)
    if since > head:
        raise ValidationFailed(
            f"since={since} is beyond the newest delta of this project ({head}); reconnect "
            f"with a seq you have received, at most {head}.",
            code="since_beyond_head",
            details={"head": head},
        )
    return since


def open_subscription(scope: dict[str, Any], token: str | None, user: Any) -> Subscription:
    """Authenticate the connection and settle where its replay starts."""
    actor = actor_of(token, user)
    project = get_project(slug=scope["url_route"]["kwargs"]["slug"], actor=actor)
    head = selectors.head_of(project)
    since = parse_since(query_value(scope, "since"), head=head)
    if since is None:
        since = selectors.cursor_of(actor.agent) if actor.agent is not None else head
    return Subscription(project=project, actor=actor, since=since)


def deltas_after(
    subscription: Subscription, since: int, until: int | None
) -> tuple[list[dict[str, Any]], selectors.Interest | None]:
    """Up to REPLAY_BATCH deltas after ``since`` in wire shape, and the agent's interest.
    Refuses an agent whose token no longer holds."""
    agent = subscription.agent
    if agent is not None:
        services.check_token_holds(agent)
    interest = selectors.interest_of(agent) if agent is not None else None
    deltas = selectors.feed(subscription.project, since=since, until=until)[:REPLAY_BATCH]
    return [selectors.as_dict(delta, interest) for delta in deltas], interest


def error_frame(exc: PeerCodeError) -> dict[str, Any]:
    """The one mapping from a domain error to a WebSocket frame."""
    return {"type": "error", **exc.as_dict()}


class DeltaConsumer(AsyncJsonWebsocketConsumer):
    """One subscriber of one project's delta stream."""

    subscription: Subscription | None = None
    last_sent = 0
    interest: selectors.Interest | None = None
    interest_expires_at = 0.0
    interest_refresh: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        # Accept first, so that a refused client can read why before the close (see end()).
        await self.accept()
        token = token_of(self.scope)
        # Read here rather than by Channels' AuthMiddleware, so that a database out of reach
        # is answered like any refusal; an agent's token says who it is without a session.
        user = await get_user(self.scope) if token is None else None
        subscription = await database_sync_to_async(open_subscription)(self.scope, token, user)
        self.last_sent = subscription.since
        groups = [services.group_name(subscription.project.pk)]
        if subscription.agent is not None:
            groups.append(agent_sockets.group_name(subscription.agent.pk))
        # Join before reading the database: see the module docstring.
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups.append(group)
        self.subscription = subscription
        await self.catch_up()
        await self.send_json({"type": "replay_done", "head": self.last_sent})

    async def end(self, exc: PeerCodeError) -> None:
        """Say why, then close with 4000 + the error's HTTP status; nothing more is sent or
        acted on meanwhile."""
        self.subscription = None
        await self.send_json(error_frame(exc))
        await self.close(code=CLOSE_CODE_BASE + exc.http_status)

    async def catch_up(self, until: int | None = None) -> None:
        """Send every stored delta after ``last_sent`` (up to ``until``), in batches."""
        assert self.subscription is not None
        while True:
            batch, interest = await database_sync_to_async(deltas_after)(
                self.subscription, self.last_sent, until
            )
            if interest is not None:
                self.keep_interest(interest)
            for delta in batch:
                await self.send_json({"type": "delta", "delta": delta})
                self.last_sent = delta["seq"]
            if len(batch) < REPLAY_BATCH:
                return

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every message, a hop through the
        # database thread. A live delta needs no database (a gap fill or an interest read goes
        # through database_sync_to_async, which does the same itself), so it skips the hop:
        # with many subscribers per process, those hops queue up behind one another.
        # An error that reaches here ends the connection (a refused connect, a revoked token, a
        # database out of reach); one about a client frame is answered in receive().
        try:
            if message["type"] == "delta.pushed":
                await self.delta_pushed(message)
            else:
                await super().dispatch(message)
        except PeerCodeError as exc:
            await self.end(exc)
        except DATABASE_UNAVAILABLE as exc:
            path = self.scope["path"]
            logger.warning("WebSocket %s closed: database unavailable (%s)", path, exc)
            await self.end(Unavailable())

    async def delta_pushed(self, message: dict[str, Any]) -> None:
        """A live delta from the project's group (see ``services.broadcast``)."""
        if self.subscription is None:
            return
        seq = message["delta"]["seq"]
        if seq <= self.last_sent:
            return  # already sent, from the replay or a gap fill
        if seq > self.last_sent + 1:
            await self.catch_up(until=seq)  # a message went missing; the database has it
            return
        await self.send_json({"type": "delta", "delta": self.live_body(message)})
        self.last_sent = seq

    async def lock_granted(self, message: dict[str, Any]) -> None:
        """A lock this agent waited for is now held (see ``locks.services``)."""
        if self.is_for_me(message):
            await self.send_json({"type": "lock_granted", "lock": message["lock"]})

    async def push_turn(self, message: dict[str, Any]) -> None:
        """This agent's turn in the push queue has come (see ``locks.push``)."""
        if self.is_for_me(message):
            await self.send_json({"type": "push_turn", "ticket": message["ticket"]})

    async def agent_revoked(self, message: dict[str, Any]) -> None:
        """This agent's token was revoked or rotated (see ``deltas.agent_sockets``)."""
        if self.subscription is not None:  # not already ended, by an earlier one
            await self.end(services.TokenRevoked())

    def is_for_me(self, message: dict[str, Any]) -> bool:
        agent = self.subscription.agent if self.subscription else None
        return agent is not None and message.get("agent_id") == agent.pk

    def live_body(self, message: dict[str, Any]) -> dict[str, Any]:
        body = dict(message["delta"])
        agent = self.subscription.agent if self.subscription else None
        if agent is None or self.interest is None:
            return body
        stale = time.monotonic() > self.interest_expires_at
        if stale and (self.interest_refresh is None or self.interest_refresh.done()):
            self.interest_refresh = asyncio.ensure_future(self.refresh_interest(agent))
        # An unsaved Delta carrying just what the relevance rules read, so that the rules stay
        # in one place (the selectors) and a live delta costs no query.
        probe = Delta(
            kind=body["kind"],
            significance=body["significance"],
            tasks=body["tasks"],
            contracts=body["contracts"],
            paths=body["paths"],
            agents=body["agents"],
            author_id=message.get("author_id"),
            contract_version_id=message.get("contract_version_id"),
        )
        body["relevant"] = selectors.concerns(probe, self.interest)
        body["breaking_for_you"] = selectors.breaks_for(probe, self.interest)
        return body

    async def refresh_interest(self, agent: Agent) -> None:
        # Off the thread that serves requests and replays: nothing waits for this read.
        read = database_sync_to_async(selectors.interest_of, thread_sensitive=False)
        self.keep_interest(await read(agent))

    def keep_interest(self, interest: selectors.Interest) -> None:
        self.interest = interest
        # Jittered, so that subscribers that connected together do not all read at once.
        lifetime = INTEREST_TTL_SECONDS * random.uniform(0.5, 1.5)
        self.interest_expires_at = time.monotonic() + lifetime

    async def disconnect(self, code: int) -> None:
        if self.interest_refresh is not None:
            self.interest_refresh.cancel()

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Client frames; a bad one, or one over the rate limit, gets an error frame, is not
        acted on, and the connection stays open."""
        if self.subscription is None:
            return
        refusal = await ratelimit.atake(self.subscription.caller, "ws")
        if refusal is not None:
            limited = RateLimited(
                ratelimit.refusal_message(refusal),
                retry_after=refusal.retry_after,
                details=asdict(refusal),
            )
            await self.send_json(error_frame(limited))
            return
        try:
            frame = self.parse_frame(text_data)
            if frame["type"] == "ack":
                await self.acknowledge(frame)
            else:
                await self.catch_up()
                await self.send_json({"type": "pong"})
        except ValidationFailed as exc:
            await self.send_json(error_frame(exc))

    @staticmethod
    def parse_frame(text_data: str | None) -> dict[str, Any]:
        example = 'e.g. {"type": "ack", "seq": 12} or {"type": "ping"}'
        if text_data is None:
            raise ValidationFailed(
                f"Binary frames are not understood; send JSON text, {example}.",
                code="binary_frame",
            )
        if len(text_data) > MAX_FRAME_CHARS:
            raise ValidationFailed(
                f"The frame is {len(text_data)} characters; client frames are at most "
                f"{MAX_FRAME_CHARS}, {example}.",
                code="frame_too_large",
            )
        try:
            frame = json.loads(text_data)
        except ValueError as exc:
            raise ValidationFailed(
                f"The frame is not valid JSON ({exc}); send a JSON object, {example}.",
                code="malformed_frame",
            ) from exc
        if not isinstance(frame, dict) or "type" not in frame:
            raise ValidationFailed(
                f"A frame must be a JSON object with a 'type', {example}.",
                code="frame_without_type",
            )
        if frame["type"] not in CLIENT_FRAME_TYPES:
            raise ValidationFailed(
                f"Unknown frame type {frame['type']!r}; send one of "
                f"{', '.join(CLIENT_FRAME_TYPES)}, {example}.",
                code="unknown_frame_type",
            )
        return frame

    async def acknowledge(self, frame: dict[str, Any]) -> None:
        assert self.subscription is not None
        agent = self.subscription.agent
        if agent is None:
            raise ValidationFailed(
                "Only agents acknowledge deltas; this connection is a human's dashboard.",
                code="not_an_agent",
            )
        if "seq" not in frame:
            raise ValidationFailed(
                'An ack needs the seq to acknowledge, e.g. {"type": "ack", "seq": 12}.',
                code="bad_seq",
            )
        cursor = await database_sync_to_async(services.ack_updates)(agent=agent, seq=frame["seq"])
        await self.send_json({"type": "acked", "seq": cursor.acked_seq})
