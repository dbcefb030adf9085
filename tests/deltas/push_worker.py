"""A separate process pushing deltas, for the concurrency tests.

Run as ``python -m tests.deltas.push_worker DB_NAME AGENT_ID COUNT`` from the repository root,
with the parent's environment (so the same DATABASE_URL or SQLite data dir). It points Django
at the test database the parent created, prints ``ready``, waits for a line on stdin so that
every worker starts pushing at once, pushes COUNT deltas with distinct summaries, and prints
the seqs it was given, one per line.
"""

from __future__ import annotations

import os
import sys


def main(db_name: str, agent_id: int, count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peercode.settings")
    import django
    from django.conf import settings

    # What Django's test runner does in the parent: same server, the test database's name.
    settings.DATABASES["default"]["NAME"] = db_name
    django.setup()
    from django.db import connection

    from deltas.services import push_delta
    from peercode.actors import Actor
    from projects.models import Agent

    agent = Agent.objects.select_related("project").get(pk=agent_id)
    actor = Actor.for_agent(agent)
    print("ready", flush=True)
    sys.stdin.readline()
    for number in range(count):
        result = push_delta(
            project=agent.project,
            actor=actor,
            kind="status",
            summary=f"{agent.name} step {number}",
        )
        print(result.delta.seq, flush=True)
    connection.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
