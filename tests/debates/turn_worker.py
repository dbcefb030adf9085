"""A separate process taking debate turns for one agent, for the concurrency tests.

Run as ``python -m tests.debates.turn_worker DB_NAME AGENT_ID DEBATE_ID`` from the repository
root, with the parent's environment (so the same DATABASE_URL). The worker points Django at
the test database the parent created and prints ``ready``. Then each line it reads on stdin is
one turn, the JSON of ``submit_turn``'s keyword arguments other than agent and debate_id; it
takes the turn at once (the parent writes to every worker together, so their turns contend)
and prints the outcome as one JSON line:
``{"turn": id, "round": n, "replayed": bool, "closed": n or null, "outcome": str or null}``.
It exits at the end of its input.
"""

from __future__ import annotations

import json
import os
import sys


def main(db_name: str, agent_id: int, debate_id: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peercode.settings")
    import django
    from django.conf import settings

    # What Django's test runner does in the parent: same server, the test database's name.
    settings.DATABASES["default"]["NAME"] = db_name
    settings.ANTHROPIC_API_KEY = ""
    django.setup()
    from django.db import connection

    from debates.services import submit_turn
    from projects.models import Agent

    agent = Agent.objects.select_related("project").get(pk=agent_id)
    print("ready", flush=True)
    for line in sys.stdin:
        result = submit_turn(agent=agent, debate_id=debate_id, **json.loads(line))
        closed = result.closed
        report = {
            "turn": result.turn.pk,
            "round": result.turn.round_number,
            "replayed": result.replayed,
            "closed": closed.number if closed else None,
            "outcome": closed.tally.outcome if closed else None,
        }
        print(json.dumps(report), flush=True)
    connection.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
