"""Per-caller request limits, one limiter for REST, MCP and WebSocket frames.

A caller (an agent's token hash, or a human's user id) gets ``limit`` requests per window in each
scope. The window opens at the caller's first request and closes ``window_seconds`` later; the
count lives in Django's cache, so every process shares it when the cache is Redis
(``REDIS_URL``). Limits come from ``settings.PEERCODE_RATE_LIMITS`` (see docs/limits.md); a scope
set to ``None`` is not limited.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

# What each scope counts, and the variable that sets its limit (peercode/settings.py).
SCOPES = {
    "rest": ("API requests", "PEERCODE_RATE_LIMIT_REST"),
    "mcp": ("MCP messages", "PEERCODE_RATE_LIMIT_MCP"),
    "ws": ("WebSocket messages", "PEERCODE_RATE_LIMIT_WS"),
}


@dataclass(frozen=True)
class Refusal:
    scope: str
    limit: int
    window_seconds: int
    retry_after: int


def take(key: str, scope: str) -> Refusal | None:
    """Count one request by ``key`` in ``scope``; return a Refusal once it is over the limit.

    One cache increment on the common path; a few more when a window opens, and one read to
    say when a refused caller may retry.
    """
    rate = settings.PEERCODE_RATE_LIMITS.get(scope)
    if rate is None:
        return None
    limit, window_seconds = rate
    count_key = f"peercode:rate:{scope}:{key}"
    opened_key = f"{count_key}:opened"
    try:
        count = cache.incr(count_key)
    except ValueError:
        # No window open: open one. Of two racing callers one adds, the other counts on top.
        count = 1 if cache.add(count_key, 1, timeout=window_seconds) else cache.incr(count_key)
    if count == 1:
        # This request opened the window. The expiry is set again because Redis' increment of
        # a key that expired just after the backend checked for it creates one without any.
        cache.touch(count_key, timeout=window_seconds)
        cache.set(opened_key, time.time(), timeout=window_seconds)
    if count <= limit:
        return None
    opened = cache.get(opened_key)
    remaining = window_seconds - (time.time() - opened) if opened is not None else 1
    return Refusal(
        scope=scope,
        limit=limit,
        window_seconds=window_seconds,
        retry_after=max(1, math.ceil(remaining)),
    )


async def atake(key: str, scope: str) -> Refusal | None:
    return await sync_to_async(take, thread_sensitive=False)(key, scope)


def refusal_message(refusal: Refusal) -> str:
    counted, variable = SCOPES[refusal.scope]
    return (
        f"Rate limit reached: at most {refusal.limit} {counted} per {refusal.window_seconds} "
        f"seconds from one caller. Retry in {refusal.retry_after} seconds. If your work really "
        f"needs more, ask the operator to raise {variable} (e.g. '2400/minute'; 'off' turns "
        "the limit off)."
    )
