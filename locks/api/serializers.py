"""Input and output shapes of the lock and push-queue REST API.

Input serializers check types, lengths and choices and refuse unknown fields (see
:class:`peercode.api.StrictSerializer`); the services check everything else. Output serializers
only document the bodies, which are :func:`locks.selectors.as_dict` and
:func:`locks.push.ticket_as_dict` themselves.
"""

from __future__ import annotations

from rest_framework import serializers

from locks import services
from locks.models import LockStatus, Mode, Scope
from locks.rules import MAX_LINE, MAX_PATH_LENGTH, MAX_SECTION_LENGTH
from peercode.api import MAX_ROW_ID, QuerySerializer, StrictSerializer
from projects.api.serializers import choice_field, key_list, text_field


class LockOut(serializers.Serializer):
    """A lock (a lease) or a request waiting for one: the same shape over REST, MCP and
    WebSocket."""

    # Documentation only: the views return locks.selectors.as_dict() itself.

    id = serializers.IntegerField()
    holder = serializers.CharField(help_text="The agent holding (or waiting for) it.")
    holder_id = serializers.IntegerField()
    path = serializers.CharField()
    scope = serializers.CharField(help_text=f"One of {', '.join(Scope.values)}.")
    section = serializers.CharField(allow_null=True)
    start_line = serializers.IntegerField(allow_null=True)
    end_line = serializers.IntegerField(allow_null=True)
    mode = serializers.CharField(help_text=f"One of {', '.join(Mode.values)}.")
    status = serializers.CharField(
        help_text=f"One of {', '.join(LockStatus.values)}, as the clock has it: a lease past its "
        "expiry reads 'expired' before the sweep has written so."
    )
    reason = serializers.CharField()
    task = serializers.CharField(allow_null=True, help_text="The task key it was taken for.")
    fencing_token = serializers.IntegerField(
        allow_null=True,
        help_text="Set when granted; strictly increasing per project. Pass it to whatever acts "
        "on the repository on the strength of this lock.",
    )
    ttl_seconds = serializers.IntegerField()
    requested_at = serializers.DateTimeField()
    granted_at = serializers.DateTimeField(allow_null=True)
    renewed_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When the lease ends (held) or the wait gives up (waiting)."
    )
    released_at = serializers.DateTimeField(allow_null=True)
    released_by = serializers.CharField(allow_null=True, help_text="e.g. 'agent:ann'.")
    position = serializers.IntegerField(
        allow_null=True, help_text="Waiting only: its place in line (1 = next)."
    )


class LocksOut(serializers.Serializer):
    locks = LockOut(many=True, help_text="Live locks, oldest grant first.")
    waiting = LockOut(many=True, help_text="Requests waiting in line, in arrival order.")


class LockFilter(QuerySerializer):
    holder = serializers.CharField(max_length=64, required=False, help_text="An agent's name.")
    path = serializers.CharField(
        max_length=MAX_PATH_LENGTH, required=False, help_text="Only locks on this file."
    )


def _scope_field() -> serializers.ChoiceField:
    return choice_field(
        Scope.choices,
        "lock scope",
        required=False,
        default=Scope.FILE,
        help_text="file: the whole file; section: a named symbol (give 'section', optionally "
        "with its line range); lines: start_line..end_line.",
    )


def _mode_field() -> serializers.ChoiceField:
    return choice_field(
        Mode.choices,
        "lock mode",
        required=False,
        default=Mode.EXCLUSIVE,
        help_text="exclusive: you will edit it (conflicts with any overlapping lock); shared: "
        "you read it and want it stable (conflicts only with exclusive locks).",
    )


def _line_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1,
        max_value=MAX_LINE,
        required=False,
        allow_null=True,
        help_text="1-based, inclusive; give start_line and end_line together.",
    )


class WantedLockIn(StrictSerializer):
    path = serializers.CharField(
        max_length=MAX_PATH_LENGTH,
        help_text="Relative to the repository root with forward slashes, e.g. 'src/app.py' "
        "(no leading '/', no '..').",
    )
    scope = _scope_field()
    section = serializers.CharField(
        max_length=MAX_SECTION_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="section scope: the symbol, e.g. 'AuthService.login'.",
    )
    start_line = _line_field()
    end_line = _line_field()
    mode = _mode_field()


class AcquireIn(WantedLockIn):
    ttl_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Lease length in seconds (default: the project's; bounded by its maximum).",
    )
    reason = text_field(
        max_length=services.MAX_REASON_LENGTH,
        required=False,
        default="",
        help_text="Why, for your peers.",
    )
    task = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="The key of the task you lock it for, such as 'P1-T3'.",
    )
    wait = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: join the line when it conflicts and get it, in arrival order, when it "
        "clears (202). false: refuse at once with 409, naming each conflicting lock.",
    )


class AcquireOut(serializers.Serializer):
    lock = LockOut()
    granted = serializers.BooleanField(help_text="True: held now (201). False: waiting (202).")
    position = serializers.IntegerField(
        allow_null=True, help_text="The place in line when waiting (1 = next)."
    )
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="Breaking contract changes the agent has not acknowledged (read and "
        "acknowledge them at .../deltas/).",
    )


class RenewIn(StrictSerializer):
    ttl_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The new lease, from now (default: the lock's own TTL again).",
    )


class CheckIn(StrictSerializer):
    locks = serializers.ListField(
        child=WantedLockIn(),
        min_length=1,
        max_length=services.MAX_CHECK_SPECS,
        help_text="The locks the agent is thinking of taking.",
    )


class ConflictAnswerOut(serializers.Serializer):
    path = serializers.CharField()
    scope = serializers.CharField()
    section = serializers.CharField(allow_null=True)
    start_line = serializers.IntegerField(allow_null=True)
    end_line = serializers.IntegerField(allow_null=True)
    mode = serializers.CharField()
    free = serializers.BooleanField(help_text="True: acquiring it now would be granted.")
    conflicts = LockOut(many=True, help_text="The locks and waiting requests in the way.")


class CheckOut(serializers.Serializer):
    answers = ConflictAnswerOut(many=True, help_text="One per wanted lock, in order.")


class TicketOut(serializers.Serializer):
    """A push ticket: the same shape over REST, MCP and WebSocket."""

    # Documentation only: the views return locks.push.ticket_as_dict() itself.

    id = serializers.IntegerField()
    branch = serializers.CharField()
    agent = serializers.CharField()
    status = serializers.CharField(
        help_text="One of waiting, active (its turn), completed, abandoned, expired."
    )
    paths = serializers.ListField(child=serializers.CharField())
    fencing_token = serializers.IntegerField(
        allow_null=True, help_text="Set when its turn comes; pass it to complete the push."
    )
    requested_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When the push lease ends (active)."
    )
    finished_at = serializers.DateTimeField(allow_null=True)
    commit_sha = serializers.CharField(allow_null=True)
    previous_head = serializers.CharField(allow_null=True)
    violations = serializers.ListField(
        child=serializers.DictField(),
        help_text="What the git checks found wrong with the completed push (empty: none).",
    )


class LineTicketOut(TicketOut):
    position = serializers.IntegerField(help_text="Its place: 0 holds the turn.")


class PushHolderOut(serializers.Serializer):
    agent = serializers.CharField()
    ticket = serializers.IntegerField()
    fencing_token = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class PushStatusOut(serializers.Serializer):
    branch = serializers.CharField()
    head = serializers.CharField(
        allow_null=True, help_text="The commit of the branch's last completed push."
    )
    line = LineTicketOut(many=True, help_text="Open tickets in order: the active one first.")
    holder = PushHolderOut(allow_null=True, help_text="Who holds the turn, or null.")
    your_ticket = serializers.IntegerField(
        allow_null=True, help_text="The calling agent's open ticket; null for a human."
    )
    your_position = serializers.IntegerField(allow_null=True)


class PushFilter(QuerySerializer):
    branch = serializers.CharField(
        max_length=200, required=False, help_text="Default: the project's integration branch."
    )


class PushRequestIn(StrictSerializer):
    branch = serializers.CharField(
        max_length=200, required=False, help_text="Default: the project's integration branch."
    )
    paths = key_list(
        max_length=MAX_PATH_LENGTH,
        required=False,
        help_text="The files the push will change (checked against exclusive locks).",
    )


class PushRequestOut(serializers.Serializer):
    ticket = TicketOut()
    position = serializers.IntegerField(
        help_text="0: your turn now (push, then complete); n: n tickets ahead."
    )
    already_in_line = serializers.BooleanField(
        help_text="The agent had asked before; this is that ticket (200)."
    )
    warnings = serializers.ListField(child=serializers.CharField())


class PushCompleteIn(StrictSerializer):
    commit_sha = serializers.CharField(
        max_length=64, help_text="The commit pushed (git rev-parse HEAD): 4-64 hex digits."
    )
    fencing_token = serializers.IntegerField(
        min_value=1, max_value=MAX_ROW_ID, help_text="The push lease's token."
    )
