"""The push queue: one line per project and branch, served first come, first served.

An agent asks for the branch (``request_push``) and is told its place; the ticket at the head of
the line holds a short push lease with a fencing token from the project's lock counter. It pushes
with plain git, then reports the commit (``complete_push``), which ends its turn and hands the
lease to the next ticket. Leaving (``abandon_push``) or letting the lease run out
(``expire_push_leases``) passes the turn on too, so a vanished agent never blocks the line.

Every change locks the project's ``LockSpace`` row first, in the transaction that makes it, so
the line's order, "exactly one active ticket per branch" and the tokens stay consistent however
many agents and server processes act at once (SQLite gets the same from its IMMEDIATE
transactions). When the project names a git repository, a completed push is checked with real
git (branch head, fast-forward, files locked by others); what fails is recorded on the ticket and
in ``push.violation`` events for the humans, and reported to the pusher.

The package's modules: ``services`` (the use cases, and ``push_status``, which applies due
expiries before it reads), ``selectors`` (reads), ``turns`` (handing the turn on), ``checks``
(who may complete or leave a ticket; files locked by others), ``git`` (the git checks) and
``validation`` (input). Every public name is importable from ``locks.push`` itself.
"""

from locks.push.git import GIT_TIMEOUT_SECONDS, GitFindings, inspect_push
from locks.push.selectors import OPEN_STATUSES, push_line, recorded_head, ticket_as_dict
from locks.push.services import (
    PushResult,
    abandon_push,
    complete_push,
    expire_push_leases,
    push_status,
    request_push,
)
from locks.push.turns import QUEUE_CLOCK
from locks.push.validation import (
    BRANCH_FORBIDDEN_CHARACTERS,
    BRANCH_HELP,
    MAX_BRANCH_LENGTH,
    MAX_PATHS,
    SHA_PATTERN,
    clean_branch,
    clean_paths,
    clean_sha,
)

__all__ = [
    "BRANCH_FORBIDDEN_CHARACTERS",
    "BRANCH_HELP",
    "GIT_TIMEOUT_SECONDS",
    "MAX_BRANCH_LENGTH",
    "MAX_PATHS",
    "OPEN_STATUSES",
    "QUEUE_CLOCK",
    "SHA_PATTERN",
    "GitFindings",
    "PushResult",
    "abandon_push",
    "clean_branch",
    "clean_paths",
    "clean_sha",
    "complete_push",
    "expire_push_leases",
    "inspect_push",
    "push_line",
    "push_status",
    "recorded_head",
    "request_push",
    "ticket_as_dict",
]
