"""REST views for locks and the push queue: list, acquire, renew, release, the dry run, and the
push line (ask, complete, abandon).

The same services and selectors as the MCP tools (``locks.mcp``): a lock's body is always
:func:`locks.selectors.as_dict` and a push ticket's :func:`locks.push.ticket_as_dict`, so REST,
MCP and WebSocket clients see one shape. A lock or ticket id in the URL is looked up in the
URL's project first, so a staff human cannot reach another project's lock through this one's
address.

The package's modules: ``locks`` (the lock views), ``push`` (the push-queue views),
``serializers`` (input and output shapes) and ``common`` (URL parameters and permissions).
Every public name is importable from ``locks.api`` itself; ``locks.urls`` routes to the views.
"""

from locks.api.common import (
    LOCK_ID,
    TICKET_ID,
    AgentsChange,
    LockAgentsOnly,
)
from locks.api.locks import (
    LockCheckView,
    LockDetailView,
    LockListView,
    LockReleaseView,
    LockRenewView,
)
from locks.api.push import (
    PushAbandonView,
    PushCompleteView,
    PushQueueView,
)
from locks.api.serializers import (
    AcquireIn,
    AcquireOut,
    CheckIn,
    CheckOut,
    ConflictAnswerOut,
    LineTicketOut,
    LockFilter,
    LockOut,
    LocksOut,
    PushCompleteIn,
    PushFilter,
    PushHolderOut,
    PushRequestIn,
    PushRequestOut,
    PushStatusOut,
    RenewIn,
    TicketOut,
    WantedLockIn,
)

__all__ = [
    "LOCK_ID",
    "TICKET_ID",
    "AcquireIn",
    "AcquireOut",
    "AgentsChange",
    "CheckIn",
    "CheckOut",
    "ConflictAnswerOut",
    "LineTicketOut",
    "LockAgentsOnly",
    "LockCheckView",
    "LockDetailView",
    "LockFilter",
    "LockListView",
    "LockOut",
    "LockReleaseView",
    "LockRenewView",
    "LocksOut",
    "PushAbandonView",
    "PushCompleteIn",
    "PushCompleteView",
    "PushFilter",
    "PushHolderOut",
    "PushQueueView",
    "PushRequestIn",
    "PushRequestOut",
    "PushStatusOut",
    "RenewIn",
    "TicketOut",
    "WantedLockIn",
]
