"""PostgreSQL only: exclusion constraints as a second line of defence against conflicting locks.

The services decide conflicts under the project's LockSpace row lock; these constraints make
the database itself refuse the part of the rule that line ranges can express, should a bug ever
let two conflicting grants through. Among held locks of one project and path, held by different
agents, whose extents intersect (a file lock spans every line, a lines lock or a section with a
range spans its range, a section without a range spans none), the database refuses

* two exclusive locks (``lock_held_exclusive_no_overlap``), and
* an exclusive and a shared one (``lock_held_mixed_no_overlap``: modes differ).

This is a subset of the rule in ``locks.rules`` (names of sections are not compared), so it
never refuses a grant the services allow. It counts rows whose status is ``held`` whatever the
clock says; the services mark every lease past its expiry ``expired`` before granting, in the
same transaction. SQLite has no such constraints; there the services' serialization is the only
line. ``btree_gist`` is a trusted extension (PostgreSQL 13+): the database owner may create it.
"""

from django.db import migrations

EXTENT = (
    "(CASE WHEN scope = 'file' THEN int4range(NULL, NULL) "
    "WHEN start_line IS NULL THEN 'empty'::int4range "
    "ELSE int4range(start_line::integer, end_line::integer, '[]') END)"
)

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    f"""ALTER TABLE locks_lock ADD CONSTRAINT lock_held_exclusive_no_overlap
        EXCLUDE USING gist (
            project_id WITH =, path WITH =, holder_id WITH <>, {EXTENT} WITH &&
        ) WHERE (status = 'held' AND mode = 'exclusive')""",
    f"""ALTER TABLE locks_lock ADD CONSTRAINT lock_held_mixed_no_overlap
        EXCLUDE USING gist (
            project_id WITH =, path WITH =, holder_id WITH <>, mode WITH <>, {EXTENT} WITH &&
        ) WHERE (status = 'held')""",
]

BACKWARD = [
    "ALTER TABLE locks_lock DROP CONSTRAINT IF EXISTS lock_held_mixed_no_overlap",
    "ALTER TABLE locks_lock DROP CONSTRAINT IF EXISTS lock_held_exclusive_no_overlap",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("locks", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
