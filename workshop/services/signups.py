"""Sign-ups for released sessions, their waitlists, and check-in (by organizers, or with a room code).

A session's seats are its room's capacity in the latest release. Signing up is not attending:
only check-in records attendance, which is what opens session-tier materials.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from .. import mail, policy
from ..dates import datefmt, local
from ..extensions import db
from ..models import (
    Attendance,
    AttendanceSource,
    Event,
    Proposal,
    ProposalStatus,
    Room,
    SignUp,
    SignUpStatus,
    Slot,
    User,
    utcnow,
)
from . import audit
from . import proposals as proposal_service
from .errors import DomainError
from .schedule import Session, published

CONFIRMED, WAITLISTED = SignUpStatus.CONFIRMED, SignUpStatus.WAITLISTED
# Check-in opens this long before a session starts, and closes when it ends.
CHECK_IN_EARLY = timedelta(minutes=10)
# Room codes avoid letters and digits that look alike when projected (0/O, 1/I/L, 5/S, 2/Z, 8/B).
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6
WRONG_CODE = ("The code is wrong. Check the code shown in the room and type it again: it changes every minute, "
              "so type the one on the screen now.")


# --- seats --------------------------------------------------------------------------------


def _lock_proposal(proposal: Proposal) -> None:
    """Serialize seat changes for one session (row lock on PostgreSQL; SQLite serializes writers).

    FOR NO KEY UPDATE: sign-ups wait for one another, but rows that merely reference the proposal
    (attendance, materials, votes) can still be written meanwhile.
    """
    db.session.execute(sa.select(Proposal.id).where(Proposal.id == proposal.id).with_for_update(key_share=True))


def _released_cell(proposal: Proposal) -> tuple[Room, Slot]:
    entry = policy.released_entry(proposal)
    room = db.session.get(Room, entry["room"]) if entry else None
    slot = db.session.get(Slot, entry["slot"]) if entry else None
    if room is None or slot is None:
        raise DomainError("This session is not on the published schedule.")
    return room, slot


def _confirmed_count(proposal: Proposal) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(SignUp).where(
        SignUp.proposal_id == proposal.id, SignUp.status == CONFIRMED))


def _own_signup(user: User, proposal: Proposal) -> SignUp | None:
    return db.session.scalar(sa.select(SignUp).where(SignUp.proposal_id == proposal.id, SignUp.user_id == user.id)
                             .execution_options(populate_existing=True))


def sign_up(user: User, proposal: Proposal, now: datetime | None = None) -> SignUp:
    """Take a seat in a released session, or a place on its waitlist when the room is full.

    Who may: policy.can_sign_up (attendees who signed the agreement, for an accepted, released session
    they may see, not their own, while the event is open or running). Raises DomainError when they may
    not, when the session is over, or when they are signed up already. Seats are counted under a lock on
    the proposal's row, so concurrent sign-ups never overbook. The caller commits.
    """
    decision = policy.signup_decision(user, proposal, now)
    if not decision:
        raise DomainError(decision.reason.explanation)
    room, _slot = _released_cell(proposal)
    _lock_proposal(proposal)
    existing = _own_signup(user, proposal)
    if existing is not None:
        if existing.status == CONFIRMED:
            raise DomainError("You have a seat in this session already.")
        raise DomainError(f"You are on this session's waitlist already (number {waitlist_position(existing)}).")
    status = CONFIRMED if _confirmed_count(proposal) < room.capacity else WAITLISTED
    # Taken under the lock, so the waitlist's order is the order in which people joined it.
    signup = SignUp(proposal_id=proposal.id, user_id=user.id, status=status, created_at=utcnow())
    db.session.add(signup)
    db.session.flush()
    return signup


def cancel(user: User, proposal: Proposal) -> list[SignUp]:
    """Give up one's seat or waitlist place. A freed seat goes to the earliest waitlisted person who may
    still sign up, who is emailed.

    Who may: the person who signed up. Raises DomainError when they have no sign-up for the session.
    Returns the sign-ups promoted. The caller commits.
    """
    _lock_proposal(proposal)
    signup = _own_signup(user, proposal)
    if signup is None:
        raise DomainError("You are not signed up for this session.")
    was_seated = signup.status == CONFIRMED
    audit.record(user, proposal.event, "cancel sign-up", f"proposal {proposal.public_id}",
                 "gave up a seat" if was_seated else "left the waitlist")
    db.session.delete(signup)
    db.session.flush()
    return fill_from_waitlist(proposal) if was_seated else []


def fill_from_waitlist(proposal: Proposal) -> list[SignUp]:
    """Promote waitlisted people, first come first served, while the released room has free seats;
    email each. Call it whenever seats may have opened (a cancellation, a move to a bigger room).

    People who may no longer sign up (revoked, excluded since, no longer able to see the talk) keep
    their place but are passed over. Nobody is promoted for a session that is not released.
    """
    _lock_proposal(proposal)
    db.session.flush()
    entry = policy.released_entry(proposal)
    room = db.session.get(Room, entry["room"]) if entry else None
    slot = db.session.get(Slot, entry["slot"]) if entry else None
    if room is None or slot is None or proposal.status != ProposalStatus.ACCEPTED:
        return []
    free = room.capacity - _confirmed_count(proposal)
    if free <= 0:
        return []
    waiting = db.session.scalars(sa.select(SignUp).where(SignUp.proposal_id == proposal.id,
                                                         SignUp.status == WAITLISTED)
                                 .order_by(SignUp.created_at, SignUp.user_id)).all()
    promoted: list[SignUp] = []
    for signup in waiting:
        if len(promoted) == free:
            break
        if not policy.can_sign_up(signup.user, proposal):
            continue
        signup.status = CONFIRMED
        promoted.append(signup)
        mail.queue(signup.user.email, f"A seat opened for you: {proposal.title}", "signup_promoted",
                   user=signup.user, proposal=proposal, event=proposal.event, room=room, slot=slot)
    return promoted


def drop_excluded(proposal: Proposal) -> list[SignUp]:
    """Take the seats and waitlist places of everyone now excluded from the session (a person, or an email
    domain), silently: telling them would tell them they were left out. A freed seat goes to the head of
    the waitlist. Call it whenever a talk's exclusions change; returns the sign-ups promoted. The caller
    commits."""
    _lock_proposal(proposal)
    rows = db.session.scalars(sa.select(SignUp).where(SignUp.proposal_id == proposal.id)
                              .options(selectinload(SignUp.user))).all()
    dropped = [row for row in rows if policy.loses_seat_by_exclusion(row.user, proposal)]
    for row in dropped:
        db.session.delete(row)
    db.session.flush()
    return fill_from_waitlist(proposal) if any(row.status == CONFIRMED for row in dropped) else []


def waitlist_position(signup: SignUp) -> int | None:
    """1 for the head of the queue; None for a confirmed seat."""
    if signup.status != WAITLISTED:
        return None
    return waitlist_positions(signup.user_id, [signup.proposal_id]).get(signup.proposal_id)


def waitlist_positions(user_id: int, proposal_ids: Iterable[int]) -> dict[int, int]:
    """This person's place in each waitlist they are on, among ``proposal_ids``, in one query."""
    ids = list(proposal_ids)
    if not ids:
        return {}
    ranked = sa.select(SignUp.proposal_id, SignUp.user_id, sa.func.row_number().over(
        partition_by=SignUp.proposal_id, order_by=(SignUp.created_at, SignUp.user_id)).label("position")).where(
        SignUp.proposal_id.in_(ids), SignUp.status == WAITLISTED).subquery()
    return dict(db.session.execute(sa.select(ranked.c.proposal_id, ranked.c.position)
                                   .where(ranked.c.user_id == user_id)).all())


def confirmed_counts(proposal_ids: Iterable[int]) -> dict[int, int]:
    """Seats taken per session, in one query."""
    ids = list(proposal_ids)
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(SignUp.proposal_id, sa.func.count()).where(
        SignUp.proposal_id.in_(ids), SignUp.status == CONFIRMED).group_by(SignUp.proposal_id)).all())


# --- what a person sees of their own seats ------------------------------------------------


@dataclass
class Agenda:
    """One person's sessions: the released ones they have a seat or a queue place in, in time order;
    the sessions they signed up for that the latest release no longer holds; which they attended; and
    their place in each queue."""

    sessions: list[Session]
    elsewhere: list[Proposal]
    attended: set[int]
    positions: dict[int, int]


def agenda(user: User, event: Event, now: datetime | None = None) -> Agenda:
    """The person's agenda, in a fixed number of queries; only talks they may still see."""
    release = published(user, event, now)
    mine = [s for s in release.sessions if s.signed_up]
    released_ids = [e["proposal"] for e in release.release.entries] if release.release else []
    elsewhere = list(db.session.scalars(
        policy.proposals_visible_to(user, event, now)
        .join(SignUp, sa.and_(SignUp.proposal_id == Proposal.id, SignUp.user_id == user.id))
        .where(Proposal.id.not_in(released_ids)).order_by(Proposal.title)))
    ids = [s.proposal.id for s in mine] + [p.id for p in elsewhere]
    attended = set(db.session.scalars(sa.select(Attendance.proposal_id).where(
        Attendance.user_id == user.id, Attendance.proposal_id.in_(ids))))
    return Agenda(mine, elsewhere, attended, waitlist_positions(user.id, [s.proposal.id for s in mine]))


@dataclass
class Person:
    """A row of a session's check-in list."""

    id: int
    name: str
    email: str
    signup: SignUpStatus | None  # their seat or queue place, if any
    attendee: bool  # an attendee of the event now (not, say, revoked since they checked in)
    attended: Attendance | None


@dataclass
class CheckInList:
    people: list[Person]

    @property
    def checked_in(self) -> int:
        return sum(1 for person in self.people if person.attended)

    @property
    def seated(self) -> int:
        return sum(1 for person in self.people if person.signup and person.signup.seated)

    @property
    def queued(self) -> int:
        return sum(1 for person in self.people if person.signup and not person.signup.seated)


def check_in_list(actor: User, event: Event, proposal: Proposal) -> CheckInList:
    """Everyone signed up (in the order they signed up), then every other attendee ``actor`` may list,
    then anyone checked in who is neither (revoked since, say): a fixed number of queries."""
    seats = db.session.scalars(sa.select(SignUp).where(SignUp.proposal_id == proposal.id)
                               .options(selectinload(SignUp.user)).order_by(SignUp.created_at, SignUp.user_id)).all()
    attended = {a.user_id: a for a in db.session.scalars(
        sa.select(Attendance).where(Attendance.proposal_id == proposal.id))}
    attendees = [c for c in db.session.scalars(policy.attendees_visible_to(actor, event)) if c.user_id]
    signed_up = {s.user_id for s in seats}
    on_list = {c.user_id for c in attendees}
    people = [Person(s.user_id, s.user.display_name, s.user.email, s.status, s.user_id in on_list,
                     attended.get(s.user_id)) for s in seats]
    people += [Person(c.user_id, c.name or c.email, c.email, None, True, attended.get(c.user_id))
               for c in attendees if c.user_id not in signed_up]
    others = [uid for uid in attended if uid not in signed_up | on_list]
    if others:
        people += [Person(u.id, u.display_name, u.email, None, False, attended.get(u.id))
                   for u in db.session.scalars(sa.select(User).where(User.id.in_(others)).order_by(User.email))]
    return CheckInList(people)


# --- check-in -----------------------------------------------------------------------------


def check_in(actor: User, proposal: Proposal, user: User) -> bool:
    """An organizer ticks ``user`` as attending a released session.

    Who may: policy.can_check_in_attendees (the event's organizers and admins). Raises DomainError when
    the actor may not, or when ``user`` is not an attendee who may see the session. Returns False when
    the person was checked in already. The caller commits.
    """
    if not policy.can_check_in_attendees(actor, proposal):
        raise DomainError("Only organizers check people in, for sessions on the published schedule.")
    if not policy.is_attendee(user, proposal.event):
        raise DomainError(f"{user.email} is not an attendee of this event.", field="email")
    if not policy.can_view_proposal(user, proposal):
        raise DomainError(f"{user.email} may not see this session, so cannot attend it.", field="email")
    return proposal_service.record_attendance(actor, proposal, user, AttendanceSource.ORGANIZER)


def _minute(moment: datetime) -> int:
    """Which minute ``moment`` (naive UTC) falls in, counted from the epoch."""
    return int(moment.replace(tzinfo=UTC).timestamp() // 60)


def _code_for_minute(proposal: Proposal, entry: dict, minute: int) -> str:
    message = (f"room-code:{proposal.id}:{entry['room']}:{entry['slot']}:{entry['sequence']}:{minute}").encode()
    key = current_app.config["SECRET_KEY"]
    digest = hmac.new(key.encode() if isinstance(key, str) else key, message, hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    letters = []
    for _ in range(CODE_LENGTH):
        number, index = divmod(number, len(CODE_ALPHABET))
        letters.append(CODE_ALPHABET[index])
    return "".join(letters)


def _entry(proposal: Proposal) -> dict:
    entry = policy.released_entry(proposal)
    if entry is None:
        raise DomainError("This session is not on the published schedule.")
    return entry


def room_code(proposal: Proposal, now: datetime | None = None) -> str:
    """The session's short check-in code for the minute that holds ``now``, shown on the projector.

    An HMAC of the app's secret key, the session, its place in the latest release and the minute: it needs
    no storage, cannot be guessed, changes every minute and whenever the session moves. A code is accepted
    in its own minute and the next (``codes_match``), so a photo of an old one is useless. Raises
    DomainError for a session that is not on the published schedule.
    """
    return _code_for_minute(proposal, _entry(proposal), _minute(now or utcnow()))


def code_minute(now: datetime | None = None) -> int:
    """The number of the minute whose code is shown at ``now``: what makes each minute's QR address new."""
    return _minute(now or utcnow())


def room_code_of_minute(proposal: Proposal, minute: int | None, now: datetime | None = None) -> str:
    """The code of ``minute`` (from ``code_minute``) while it is still accepted, that is in its own minute
    and the next; the code of now for any other minute, so no one gets a code ahead of time."""
    current = _minute(now or utcnow())
    return _code_for_minute(proposal, _entry(proposal), minute if minute in (current, current - 1) else current)


def code_changes_in(now: datetime | None = None) -> int:
    """Whole seconds until the code shown now changes (the start of the next minute), at least 1."""
    moment = (now or utcnow()).replace(tzinfo=UTC).timestamp()
    return max(1, math.ceil(60 - moment % 60))


def normalize_code(code: str) -> str:
    """What people type: any case, with spaces or dashes."""
    return "".join(ch for ch in (code or "").upper() if not ch.isspace() and ch != "-")


def codes_match(typed: str, proposal: Proposal, now: datetime | None = None) -> bool:
    """The code typed is the one shown in this minute or in the minute before (a person who read it just
    before it changed is not turned away)."""
    entry = _entry(proposal)
    minute = _minute(now or utcnow())
    typed_bytes = normalize_code(typed).encode()
    matches = [hmac.compare_digest(typed_bytes, _code_for_minute(proposal, entry, m).encode())
               for m in (minute, minute - 1)]
    return any(matches)


def check_in_window(proposal: Proposal) -> tuple[datetime, datetime]:
    """From 10 minutes before the released slot starts to the end of the last slot it runs over, in UTC."""
    _room, slot = _released_cell(proposal)
    end = db.session.get(Slot, policy.released_entry(proposal).get("end_slot", slot.id)) or slot
    return slot.starts_at - CHECK_IN_EARLY, end.ends_at


def _window_problem(proposal: Proposal, now: datetime) -> str | None:
    """Why ``now`` is outside the session's check-in window, or None when check-in is open."""
    opens, closes = check_in_window(proposal)
    event = proposal.event
    if now < opens:
        return (f"Check-in opens 10 minutes before the session, at {datefmt(local(event, opens), 'clock on day')} "
                f"({event.timezone}).")
    if now >= closes:
        return (f"This session is over: check-in closed at {datefmt(local(event, closes), 'clock on day')} "
                f"({event.timezone}).")
    return None


def self_check_in(user: User, proposal: Proposal, code: str, now: datetime | None = None) -> bool:
    """An attendee checks themself in with the code shown in the room, during the session only.

    Who may: policy.can_check_in_self (attendees who may see the released session). Raises DomainError
    when they may not, when the code is wrong, or outside the window (from 10 minutes before the slot
    starts to its end). Returns False when they were checked in already. The caller commits.
    """
    if not policy.can_check_in_self(user, proposal):
        raise DomainError("You cannot check in to this session.", field="code")
    now = now or utcnow()
    if not codes_match(code, proposal, now):
        raise DomainError(WRONG_CODE, field="code")
    problem = _window_problem(proposal, now)
    if problem:
        raise DomainError(problem, field="code")
    return proposal_service.record_attendance(None, proposal, user, AttendanceSource.CHECKIN)


def find_session_by_code(user: User, event: Event, code: str, now: datetime | None = None) -> Proposal:
    """The released session, among those this person may see, whose room code is ``code``, and which is
    under way (its check-in window is open).

    Who may: anyone who may see the schedule; others find nothing. Raises DomainError when no session
    matches ("the code is wrong") or when the one that matches is not under way.
    """
    if not normalize_code(code):
        raise DomainError("Type the code shown in the room.", field="code")
    now = now or utcnow()
    release = policy.latest_release(event) if policy.can_view_schedule(user, event) else None
    if release is None:
        raise DomainError(WRONG_CODE, field="code")
    ids = [entry["proposal"] for entry in release.entries]
    visible = db.session.scalars(policy.proposals_visible_to(user, event, now).where(
        Proposal.id.in_(ids), Proposal.status == ProposalStatus.ACCEPTED).order_by(Proposal.id)).all()
    matches = [proposal for proposal in visible if codes_match(code, proposal, now)]
    if not matches:
        raise DomainError(WRONG_CODE, field="code")
    # Two sessions sharing a code is all but impossible; should it happen, the one under way wins.
    problems = [(proposal, _window_problem(proposal, now)) for proposal in matches]
    for proposal, problem in problems:
        if problem is None:
            return proposal
    raise DomainError(problems[0][1], field="code")


def check_in_with_code(user: User, event: Event, code: str, now: datetime | None = None) -> tuple[Proposal, bool]:
    """The room-code form: find the session under way whose code this is and check the person in.

    Returns the session and whether the check-in is new. Raises DomainError as ``find_session_by_code`` and
    ``self_check_in`` do. The caller commits.
    """
    now = now or utcnow()
    proposal = find_session_by_code(user, event, code, now)
    return proposal, self_check_in(user, proposal, code, now)


def release_seats(event: Event, user: User) -> list[Proposal]:
    """Remove every sign-up of ``user`` in ``event`` (on revocation); returns the sessions whose
    confirmed seats were freed, for the caller to refill from their waitlists after its own locks."""
    rows = db.session.scalars(sa.select(SignUp).join(Proposal, SignUp.proposal_id == Proposal.id).where(
        SignUp.user_id == user.id, Proposal.event_id == event.id)).all()
    freed = [row.proposal for row in rows if row.status.seated]
    for row in rows:
        db.session.delete(row)
    return freed
