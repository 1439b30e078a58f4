"""The published schedule, personal agendas, sign-ups, and check-in (organizers' list, projector, room code)."""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

import segno
from flask import Blueprint, Response, abort, current_app, flash, render_template, request, url_for
from flask_login import current_user, login_required

from .. import policy
from ..dates import local
from ..extensions import db, limiter
from ..forms.proposals import AttendanceForm
from ..forms.schedule import RoomCodeForm
from ..models import Event, Proposal, Room, Slot, User, utcnow
from ..services import proposals, signups
from ..services import schedule as schedule_service
from ..services.schedule import Published, Session, published
from ._helpers import int_arg, load_event, load_proposal, safe_next, text_arg
from .runner import done, page, run

bp = Blueprint("sessions", __name__)


def _token_limit() -> str:
    return current_app.config["TOKEN_RATE_LIMIT"]


def _per_person() -> str:
    # Per person, not per address: a whole room checks in at once from the venue's one address.
    return f"user:{current_user.id}" if current_user.is_authenticated else request.remote_addr or ""


# --- the schedule page --------------------------------------------------------------------


@dataclass
class Row:
    slot: Slot
    starts: datetime
    ends: datetime
    cells: list[list[Session]]  # one list per room column: usually one session, or none


@dataclass
class Day:
    day: date
    rooms: list[Room]
    rows: list[Row]


def _days(event: Event, schedule: Published) -> list[Day]:
    """The release as a grid per local day: rooms used that day as columns, slots as rows.

    A release may hold two sessions in one cell (the editor flags, but allows, a double booking); both show.
    """
    cells: dict[tuple[int, int], list[Session]] = defaultdict(list)
    for session in schedule.sessions:
        cells[(session.room.id, session.slot.id)].append(session)
    by_day: dict[date, list[Slot]] = defaultdict(list)
    for slot in schedule.slots:
        by_day[local(event, slot.starts_at).date()].append(slot)
    days = []
    for day, slots in sorted(by_day.items()):
        ids = {slot.id for slot in slots}
        used = {s.room.id for s in schedule.sessions if s.slot.id in ids}
        rooms = [room for room in schedule.rooms if room.id in used]
        rows = [Row(slot, local(event, slot.starts_at), local(event, slot.ends_at),
                    [cells.get((room.id, slot.id), []) for room in rooms])
                for slot in sorted(slots, key=lambda s: s.starts_at)]
        days.append(Day(day, rooms, rows))
    return days


def _seat_context(user, event: Event, sessions: list[Session]) -> dict:
    """What the page says about seats, for every session at once (a fixed number of queries)."""
    ids = [s.proposal.id for s in sessions if s.proposal is not None]
    mine = [s.proposal.id for s in sessions if s.signed_up]
    return {"taken": signups.confirmed_counts(ids), "positions": signups.waitlist_positions(user.id, mine),
            "signable": policy.sessions_open_for_signup(user, event, sessions)}


@bp.get("/e/<slug>/schedule")
def schedule(slug: str):
    """The latest release as this person may see it: a grid on a desktop, a list on a phone."""
    event = load_event(slug, policy.can_view_event, policy.can_view_schedule)
    now = utcnow()
    release = published(current_user, event, now)
    manager = policy.can_manage_event(current_user, event)
    return render_template("sessions/schedule.html", event=event, release=release.release,
                           days=_days(event, release), now=now, manager=manager,
                           editor_url=url_for("schedule.editor", slug=slug)
                           if policy.can_manage_schedule(current_user, event) else None,
                           **_seat_context(current_user, event, release.sessions))


# --- the personal agenda ------------------------------------------------------------------


def _agenda(event: Event, code_form: RoomCodeForm, status: int = 200):
    now = utcnow()
    agenda = signups.agenda(current_user, event, now)
    return render_template(
        "sessions/agenda.html", event=event, agenda=agenda, code_form=code_form, now=now,
        speaking=schedule_service.speaking_in(current_user, event, now),
        calendar_url=url_for("calendar.subscribe", slug=event.slug)
        if policy.can_subscribe_calendar(current_user, event) else None,
    ), status


@bp.get("/e/<slug>/agenda")
def agenda(slug: str):
    """The sessions this person signed up for, in time order, with the room-code check-in form."""
    event = load_event(slug, policy.can_view_event, policy.can_view_schedule)
    return _agenda(event, RoomCodeForm(formdata=None))


def _checkin_form_page(event: Event, form: RoomCodeForm, status: int | None = None):
    return page("sessions/checkin_self.html", form, status, event=event,
                agenda_url=url_for("sessions.agenda", slug=event.slug))


@bp.route("/e/<slug>/checkin", methods=["GET", "POST"])
@login_required
@limiter.limit(_token_limit, key_func=_per_person, methods=["POST"])
def self_checkin(slug: str):
    """An attendee types the code shown in the room (or scans its QR code, which opens this page with the code
    filled in: checking in is still a POST); it checks them in to the session under way."""
    event = load_event(slug, policy.can_view_event, policy.can_check_in_self_at)
    if request.method == "GET":
        code = text_arg("code", 20)
        return _checkin_form_page(event, RoomCodeForm(formdata=None, code=code))
    form = RoomCodeForm()
    answer = run(lambda: signups.check_in_with_code(current_user, event, form.code.data),
                 lambda checked: done(f"You are checked in to “{checked[0].title}”." if checked[1]
                                      else f"You were checked in to “{checked[0].title}” already.",
                                      url_for("sessions.agenda", slug=slug)), form=form)
    return answer or _checkin_form_page(event, form, 400)


# --- signing up and cancelling ------------------------------------------------------------


def _back(slug: str) -> str:
    return safe_next(request.form.get("next"), url_for("sessions.schedule", slug=slug))


@bp.post("/e/<slug>/proposals/<public_id>/signup")
def signup(slug: str, public_id: str):
    """Take a seat, or a waitlist place; back to the page the button was on."""
    _event, proposal = load_proposal(slug, public_id)
    decision = policy.signup_decision(current_user, proposal)
    if not decision:
        abort(403, decision.reason.explanation)
    return run(lambda: signups.sign_up(current_user, proposal), lambda seat: _seated(seat, proposal, _back(slug)))


def _seated(seat, proposal, back: str):
    if seat.status.seated:
        return done(f"You have a seat in “{proposal.title}”.", back)
    return done(f"“{proposal.title}” is full: you are number {signups.waitlist_position(seat)} on its waitlist. "
                "If a seat opens, it is yours and we email you.", back, "info")


@bp.post("/e/<slug>/proposals/<public_id>/cancel")
def cancel(slug: str, public_id: str):
    """Give up one's seat or waitlist place (a freed seat goes to the head of the queue)."""
    _event, proposal = load_proposal(slug, public_id)
    return run(lambda: signups.cancel(current_user, proposal),
               lambda _: done(f"You are no longer signed up for “{proposal.title}”.", _back(slug)))


# --- check-in by organizers, and the projector --------------------------------------------


def _released_cell(proposal: Proposal) -> tuple[Room, Slot]:
    entry = policy.released_entry(proposal)
    room, slot = db.session.get(Room, entry["room"]), db.session.get(Slot, entry["slot"])
    if room is None or slot is None:
        abort(409, "This session's room or slot no longer exists; publish the schedule again.")
    return room, slot


def _checkin_page(event: Event, proposal: Proposal, form: AttendanceForm, status: int | None = None):
    room, slot = _released_cell(proposal)
    _opens, ends = signups.check_in_window(proposal)
    return page("sessions/checkin.html", form, status, event=event, proposal=proposal, room=room, slot=slot,
                ends=ends, people=signups.check_in_list(current_user, event, proposal))


def _tick(proposal: Proposal, user: User, remove: bool = False) -> str:
    """Tick a person in, or (``remove``) out; says what happened."""
    if remove:
        proposals.remove_attendance(current_user, proposal, user)
        return f"{user.display_name} is no longer checked in."
    added = signups.check_in(current_user, proposal, user)
    return f"{user.display_name} is checked in." if added else f"{user.display_name} was checked in already."


@bp.route("/e/<slug>/proposals/<public_id>/checkin", methods=["GET", "POST"])
def checkin(slug: str, public_id: str):
    """Organizers: everyone signed up and every attendee, each with a button to tick them in (or out), and a
    form to tick someone in by email."""
    event, proposal = load_proposal(slug, public_id, policy.can_check_in_attendees)
    form = AttendanceForm()
    back = url_for("sessions.checkin", slug=slug, public_id=public_id) + "#people"
    remove, tick = request.form.get("remove"), request.form.get("user")
    if remove or tick:
        def refused(error, status):
            if status == 400:
                abort(400, error.message)
            flash(error.message, "error")
            return _checkin_page(event, proposal, form, status)

        return run(lambda: _tick(proposal, proposals.person_by_id(remove or tick), bool(remove)),
                   lambda message: done(message, back), refused=refused)
    answer = run(lambda: _tick(proposal, proposals.person_by_email(form.email.data)),
                 lambda message: done(message, back), form=form)
    return answer or _checkin_page(event, proposal, form)


def _checkin_link(event: Event, code: str) -> str:
    """The address the projector's QR code opens, built from BASE_URL (never from the request's Host)."""
    return current_app.config["BASE_URL"] + url_for("sessions.self_checkin", slug=event.slug, code=code)


@bp.get("/e/<slug>/proposals/<public_id>/projector")
def projector(slug: str, public_id: str):
    """Organizers: the session's title, room, time and room code, large enough to read from the back, with a
    QR code that opens the check-in page with the code filled in. The code changes every minute; the page
    reloads itself when it does."""
    event, proposal = load_proposal(slug, public_id, policy.can_check_in_attendees)
    room, slot = _released_cell(proposal)
    opens, ends = signups.check_in_window(proposal)
    now = utcnow()
    code = signups.room_code(proposal, now)
    return render_template("sessions/projector.html", event=event, proposal=proposal, room=room, slot=slot,
                           opens=opens, ends=ends, code=code, checkin_url=_checkin_link(event, code),
                           refresh_in=signups.code_changes_in(now),
                           qr_url=url_for("sessions.projector_qr", slug=slug, public_id=public_id,
                                          minute=signups.code_minute(now)),
                           agenda_url=url_for("sessions.agenda", slug=slug, _external=True))


@bp.get("/e/<slug>/proposals/<public_id>/projector/qr.svg")
def projector_qr(slug: str, public_id: str):
    """Organizers: the QR code of the check-in link, as an SVG from our own origin (the page's CSP allows no
    other). ``minute`` names the minute of the page that shows it, so the QR code and the letters beside it
    are the same code even when the minute turns between the page and its image."""
    event, proposal = load_proposal(slug, public_id, policy.can_check_in_attendees)
    _released_cell(proposal)
    code = signups.room_code_of_minute(proposal, int_arg("minute", minimum=0))
    svg = io.BytesIO()
    segno.make(_checkin_link(event, code), error="m").save(
        svg, kind="svg", scale=10, border=4, xmldecl=False, svgns=True, title="Check-in link")
    response = Response(svg.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, no-store"
    return response
