"""The periodic lock sweep inside the server process.

Daphne sends no lifespan events, so, like the MCP session manager
(``peercode.mcp.transport.LazySessionManager``), the sweep is a long-lived task started lazily:
the ASGI app calls :func:`ensure_sweeper` on each connection, and the first call on an event
loop starts the task there (a new loop, as tests make, gets its own task). Every
``PEERCODE_LOCK_SWEEP_SECONDS`` (default 5) it runs :func:`sweep_once` (lock leases and waits,
then push leases, then debate rounds whose deadline passed, then closed refusal fold windows)
in a worker thread. Expired locks are ignored by the clock at once anyway; the sweep writes the
expiry down, records its event, grants the waiting requests it unblocks and passes an expired
push lease's turn on; an overdue debate round closes with its silent participants holding; a
closed fold window's repeated refusals become one event. Several server processes may each
run one: sweeps of one project are serialized by its LockSpace row (a debate by its own row)
and idempotent.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from debates.services import close_overdue_rounds
from locks.push import expire_push_leases
from locks.services import sweep_expired
from peercode.errors import DATABASE_UNAVAILABLE
from peercode.events.services import flush_refusals

logger = logging.getLogger(__name__)

DEFAULT_SWEEP_SECONDS = 5.0


def sweep_interval() -> float:
    return float(getattr(settings, "PEERCODE_LOCK_SWEEP_SECONDS", DEFAULT_SWEEP_SECONDS))


class LockSweeper:
    """One sweeping task per event loop, started by the first :meth:`ensure` on that loop.

    The check-and-start step has no ``await``, so concurrent first calls on one loop share
    one task.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.sweeps = 0  # completed sweeps, for the curious (and the tests)
        self.database_down = False

    def ensure(self) -> asyncio.Task[None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._task = loop.create_task(self._run(), name="peercode-lock-sweeper")
        return self._task

    async def _run(self) -> None:
        while True:
            try:
                ended = await database_sync_to_async(sweep_once)()
            except DATABASE_UNAVAILABLE as exc:
                # Said once per outage, in one line: an operator needs to know, not a
                # traceback every few seconds.
                if not self.database_down:
                    logger.warning(
                        "The lock sweep cannot reach the database (%s); retrying every %.1f s.",
                        (str(exc).strip().splitlines() or [type(exc).__name__])[0],
                        sweep_interval(),
                    )
                self.database_down = True
            except Exception:
                # A bug must not end the sweeping for the life of the process either; the
                # next round tries again.
                logger.exception("The lock sweep failed; retrying in %.1f s.", sweep_interval())
            else:
                if self.database_down:
                    logger.warning("The lock sweep reaches the database again.")
                self.database_down = False
                self.sweeps += 1
                if ended:
                    logger.info("The lock sweep ended %d expired lock(s) or request(s).", ended)
            await asyncio.sleep(sweep_interval())


def sweep_once() -> int:
    """One round: expired lock leases and overdue waits, then expired push leases (the turn
    passes on), then debate rounds past their deadline (silent participants hold), then the
    closed fold windows of repeated refusals (one event each). How many leases, waits and
    rounds ended."""
    ended = sweep_expired() + expire_push_leases() + close_overdue_rounds()
    flush_refusals()
    return ended


sweeper = LockSweeper()


def ensure_sweeper() -> asyncio.Task[None]:
    """Start the sweep on the running event loop unless it already runs there; cheap to call
    on every connection."""
    return sweeper.ensure()
