"""Channel-layer helpers shared by tests that listen to a project's group from sync code."""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class LayerLoop:
    """One event loop, on its own thread, for everything a test does with the channel layer.

    Channel layers keep their connections and channels per event loop (the Redis pub/sub layer
    knows a channel only in the loop that created it), so a subscriber must stay in one loop,
    as it does inside a server. ``async_to_sync`` would start a new loop per call.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        # Only a failing test waits this long.
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
