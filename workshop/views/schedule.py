"""The organizers' schedule: rooms, slots, the editor grid with its conflicts, publishing and releases;
and the page where speakers say which slots they cannot make.

Every organizers' route asks ``policy.can_manage_schedule``: people who may not know the event get 404,
participants (who know it) get 403. A refused action re-renders its page with the reason and a 4xx, so
that nothing changes and the organizer sees why where they were working.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import dates, policy
from ..extensions import db
from ..forms.accounts import ConfirmForm
from ..forms.schedule import AvailabilityForm, BreakForm, PlaceForm, RoomForm, SessionForm, SlotsForm
from ..models import Event, Placement, Proposal, Room, ScheduleRelease, Slot, utcnow
from ..services import schedule
from ..services.errors import DomainError
from ._helpers import event_proposal, load_event
from .runner import done, form_message, page, run

bp = Blueprint("schedule", __name__)
BASE = "/e/<slug>/manage/schedule"


def _public_url(event: Event) -> str:
    """Where attendees read the latest release."""
    if "sessions.schedule" in current_app.view_functions:
        return url_for("sessions.schedule", slug=event.slug)
    return f"/e/{event.slug}/schedule"


def _managed(slug: str) -> Event:
    """The event, for its organizers and admins: 404 to whoever may not know it, 403 to its participants."""
    return load_event(slug, policy.can_view_event, policy.can_manage_schedule)


# --- times in the event's zone ------------------------------------------------------------------


def _by_day(event: Event, slots) -> list[tuple[date, list[Slot]]]:
    """Slots grouped by their local day, in order."""
    days: dict[date, list[Slot]] = defaultdict(list)
    for slot in slots:
        days[dates.local(event, slot.starts_at).date()].append(slot)
    return sorted(days.items())


# --- the editor ---------------------------------------------------------------------------------


@dataclass
class Card:
    """One accepted session as its editor card shows it, worked out once per page."""

    proposal: Proposal
    tier: str  # in force now
    demand: str  # "12 votes", or "12 signed up" once sign-up is open
    speakers: str
    placement: Placement | None
    slots: int = 1  # how many slots it runs over


def _editor(event: Event, status: int = 200):
    """The editor: the grid (cells indexed by the board), the unplaced list, conflicts, publishing, and, for
    ``?move=<session>``, the form that moves or unplaces one placed session without dragging it."""
    grid = schedule.board(event)
    release = policy.latest_release(event)
    unpublished = schedule.unpublished_changes(event, grid)
    placed = {p.proposal_id: p for p in grid.placements}
    now = utcnow()
    cards = {pid: Card(proposal, proposal.effective_tier(now).value, _demand(grid.demand, pid),
                       ", ".join(u.display_name for u in grid.speakers.get(pid, [])), placed.get(pid),
                       len(grid.runs.get(pid, ())) or 1)
             for pid, proposal in grid.proposals.items()}
    moving = event_proposal(event, request.args.get("move"))
    autoschedule_url = (url_for("autoschedule.form", slug=event.slug)
                        if "autoschedule.form" in current_app.view_functions else None)
    return render_template(
        "schedule/editor.html", event=event, grid=grid, cards=cards, days=_by_day(event, grid.slots),
        labels={slot.id: dates.slot_label(slot, event) for slot in grid.slots},
        hours={slot.id: dates.slot_hours(slot, event) for slot in grid.slots}, release=release,
        unpublished=unpublished, counts={"accepted": len(cards), "placed": len(placed)},
        moving=cards[moving.id] if moving is not None and moving.id in placed else None,
        moving_where=schedule.placed_where(event, placed[moving.id], grid.slots)
        if moving is not None and moving.id in placed else None,
        demand_counts_signups=bool(grid.demand.signups),
        autoschedule_url=autoschedule_url, public_url=_public_url(event),
    ), status


def _demand(demand: schedule.Demand, proposal_id: int) -> str:
    n = demand.of(proposal_id)
    if proposal_id in demand.signups:
        return f"{n} signed up"
    return f"{n} vote{'' if n == 1 else 's'}"


def _editor_again(event: Event, form=None, action: str | None = None):
    """A refused editor action: nothing is written, and the editor comes back with the reason. A move or a
    removal that needs the organizer's confirmation (people signed up for the session) asks for it instead,
    on a page that posts the same form again with ``confirm``."""
    def refused(error, status):
        if isinstance(error, schedule.ConfirmationNeeded) and form is not None:
            fields = {name: form[name].data for name in ("proposal", "room", "slot", "span")
                      if name in form and form[name].data is not None}
            return render_template("schedule/confirm.html", event=event, question=error, fields=fields,
                                   action=url_for(action, slug=event.slug)), 200
        flash(error.message, "error")
        return _editor(event, status)

    return refused


def _session_action(slug: str, form, act, message, action: str):
    """Place, unplace or pin: the session the form names, acted on, and back to the editor. 400 for an
    incomplete form or a proposal that is not this event's; 409 when the service refuses; the confirmation
    page (200) when people signed up for a session that would move or go."""
    event = _managed(slug)
    refused = _editor_again(event, form, action)
    if not form.validate_on_submit():
        return refused(DomainError(form_message(form)), 400)
    proposal = event_proposal(event, form.proposal.data)
    if proposal is None:
        return refused(DomainError("That session is not one of this event's proposals."), 400)
    return run(lambda: act(proposal), lambda result: done(message(proposal, result),
                                                          url_for("schedule.editor", slug=event.slug)),
               button=form, refused=refused)


@bp.get(BASE)
def editor(slug: str):
    """Rooms × slots with the accepted sessions, their conflicts, the unplaced list and publishing.
    Organizers and admins (404 to whoever may not know the event, 403 to its participants)."""
    event = _managed(slug)
    return _editor(event)


@bp.post(f"{BASE}/place")
def place(slug: str):
    """Put a session in a room, starting in a slot, over as many consecutive slots as its length needs (or
    the number given), or move it there; conflicts are allowed, and flagged. Organizers and admins. 400 for an
    incomplete form or a proposal that is not this event's; 409 for one that is not accepted, a break, a span
    the slots do not have, or a room or slot of another event. Moving a session people signed up for asks for
    confirmation first (a page that posts again with ``confirm``), then emails them."""
    form = PlaceForm()
    return _session_action(slug, form, lambda p: schedule.place(current_user, p, form.room.data, form.slot.data,
                                                                span=form.span.data, confirmed=form.confirm.data),
                           lambda p, placement: f"“{p.title}” is in "
                                                f"{schedule.placed_where(p.event, placement, room_first=True)}.",
                           "schedule.place")


@bp.post(f"{BASE}/unplace")
def unplace(slug: str):
    """Take a session off the grid; it goes back to the unplaced list. Organizers and admins; 409 if it is not
    placed. People signed up for it: confirmed first, then emailed."""
    form = SessionForm()
    return _session_action(slug, form, lambda p: schedule.unplace(current_user, p, confirmed=form.confirm.data),
                           lambda p, _: f"“{p.title}” is off the grid, back in the unplaced list.", "schedule.unplace")


@bp.post(f"{BASE}/pin")
def pin(slug: str):
    """Pin a placed session (the auto-scheduler leaves it where it is), or unpin it. Organizers and admins;
    409 if it is not placed."""
    return _session_action(slug, SessionForm(), lambda p: schedule.toggle_pin(current_user, p),
                           lambda p, pinned: f"“{p.title}” is pinned: the auto-scheduler leaves it where it is."
                           if pinned else f"“{p.title}” is unpinned: the auto-scheduler may move it.", "schedule.pin")


@bp.post(f"{BASE}/publish")
def publish(slug: str):
    """Publish the working schedule as the next release; attendees affected by changes are emailed.
    Organizers and admins; 409 when nothing is placed or nothing changed since the last release."""
    event = _managed(slug)
    return run(lambda: schedule.publish(current_user, event),
               lambda release: done("Release 1 is published; attendees can see the schedule now."
                                    if release.number == 1 else f"Release {release.number} is published; "
                                    "attendees affected by changes have been emailed.",
                                    url_for("schedule.editor", slug=event.slug)),
               refused=_editor_again(event))


@bp.get(f"{BASE}/releases")
def releases(slug: str):
    """Every published release: its number, when, by whom, and how many sessions it holds. Organizers and
    admins."""
    event = _managed(slug)
    rows = db.session.scalars(sa.select(ScheduleRelease).where(ScheduleRelease.event_id == event.id)
                              .options(selectinload(ScheduleRelease.created_by))
                              .order_by(ScheduleRelease.number.desc())).all()
    return render_template("schedule/releases.html", event=event, releases=rows, public_url=_public_url(event))


# --- boxes on other pages -----------------------------------------------------------------------


def schedule_box(user, proposal: Proposal) -> dict:
    """The talk page's "When and where" box: its day, time and room as released, and for organizers the
    working schedule's place when it is not published yet (``schedule/_talk_box.html``)."""
    return {"talk_time": schedule.talk_time(user, proposal)}


# --- rooms --------------------------------------------------------------------------------------


def _rooms_page(event: Event, form: RoomForm, status: int | None = None):
    placed = sa.select(sa.func.count()).where(Placement.room_id == Room.id).correlate(Room).scalar_subquery()
    rows = db.session.execute(sa.select(Room, placed).where(Room.event_id == event.id)
                              .order_by(Room.position, Room.id)).all()
    return page("schedule/rooms.html", form, status, event=event, rows=rows, delete_form=ConfirmForm())


@bp.route(f"{BASE}/rooms", methods=["GET", "POST"])
def rooms(slug: str):
    """The event's rooms, and a form to add one. Organizers and admins; 400 for a bad or duplicate room."""
    event = _managed(slug)
    form = RoomForm()
    answer = run(lambda: schedule.add_room(current_user, event, form.name.data, form.capacity.data,
                                           form.closed_door.data),
                 lambda room: done(f"{room.name} is added ({room.capacity} seats"
                                   f"{', closed door' if room.closed_door else ''}).",
                                   url_for("schedule.rooms", slug=event.slug)), form=form)
    return answer or _rooms_page(event, form)


def _delete(event: Event, remove, what: str, again, endpoint: str):
    """Delete an empty room or slot. A refusal (sessions in it) answers 409 on the same page, with the reason."""
    def refused(error, status):
        if status == 400:
            abort(400, error.message)
        flash(error.message, "error")
        return again(status)

    return run(lambda: remove(current_user, event), lambda _: done(f"{what} is deleted.",
                                                                   url_for(endpoint, slug=event.slug)),
               refused=refused)


@bp.post(f"{BASE}/rooms/<id:room_id>/delete")
def delete_room(slug: str, room_id: int):
    """Delete an empty room; one with sessions in it is refused (409) until they move. Organizers and admins;
    404 for a room of another event."""
    event = _managed(slug)
    room = db.session.scalar(sa.select(Room).where(Room.id == room_id, Room.event_id == event.id)) or abort(404)
    return _delete(event, lambda actor, e: schedule.delete_room(actor, e, room), room.name,
                   lambda status: _rooms_page(event, RoomForm(formdata=None), status), "schedule.rooms")


# --- slots --------------------------------------------------------------------------------------


def _slots_page(event: Event, form: SlotsForm, status: int | None = None):
    slots = schedule.ordered_slots(event)
    return page("schedule/slots.html", form, status, event=event, days=_by_day(event, slots),
                counts=schedule.sessions_per_slot(event, slots), delete_form=ConfirmForm(), break_form=BreakForm())


@bp.route(f"{BASE}/slots", methods=["GET", "POST"])
def slots(slug: str):
    """The slot grid per day, and a form to add several start times at once. Organizers and admins; 400 for
    a bad time, a day outside the event or a slot that overlaps another."""
    event = _managed(slug)
    form = SlotsForm()
    if not form.is_submitted():
        form.day.data = event.starts_on
    answer = run(lambda: schedule.add_slots(current_user, event, form.day.data, form.times, form.minutes.data,
                                            form.block.data or "", form.is_break.data),
                 lambda added: done(f"{len(added)} {'break' if form.is_break.data else 'slot'}"
                                    f"{'s' if len(added) != 1 else ''} added on "
                                    f"{dates.datefmt(form.day.data, 'short day')}.",
                                    url_for("schedule.slots", slug=event.slug)), form=form)
    return answer or _slots_page(event, form)


@bp.post(f"{BASE}/slots/<id:slot_id>/break")
def set_break(slug: str, slot_id: int):
    """Make a slot a break (it takes no talk and ends a run of consecutive slots), or open it for talks again.
    Organizers and admins; 404 for a slot of another event; 409 when sessions are in it or run over it."""
    event = _managed(slug)
    slot = db.session.scalar(sa.select(Slot).where(Slot.id == slot_id, Slot.event_id == event.id)) or abort(404)
    form = BreakForm()

    def refused(error, status):
        if status == 400:
            abort(400, error.message)
        flash(error.message, "error")
        return _slots_page(event, SlotsForm(formdata=None), status)

    return run(lambda: schedule.set_break(current_user, event, slot, form.is_break.data),
               lambda _: done(f"{dates.slot_label(slot, event)} is {'a break' if slot.is_break else 'open for talks'}.",
                              url_for("schedule.slots", slug=event.slug)), button=form, refused=refused)


@bp.post(f"{BASE}/slots/<id:slot_id>/delete")
def delete_slot(slug: str, slot_id: int):
    """Delete an empty slot; one with sessions in it is refused (409) until they move. Organizers and admins;
    404 for a slot of another event."""
    event = _managed(slug)
    slot = db.session.scalar(sa.select(Slot).where(Slot.id == slot_id, Slot.event_id == event.id)) or abort(404)
    return _delete(event, lambda actor, e: schedule.delete_slot(actor, e, slot),
                   f"The slot {dates.slot_label(slot, event)}",
                   lambda status: _slots_page(event, SlotsForm(formdata=None), status), "schedule.slots")


# --- speakers' availability ---------------------------------------------------------------------


@bp.route("/e/<slug>/availability", methods=["GET", "POST"])
def availability(slug: str):
    """A speaker ticks the slots they cannot make. Confirmed speakers of accepted talks who signed the
    agreement (policy.can_state_availability); 403 for other participants, 404 for people who may not know
    the event; 400 for a slot that is not the event's."""
    event = load_event(slug, policy.can_view_event, policy.can_state_availability)
    event_slots = db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id).order_by(Slot.starts_at)).all()
    form = AvailabilityForm()
    form.unavailable.choices = [(slot.id, dates.slot_label(slot, event)) for slot in event_slots]
    if not form.is_submitted():
        form.unavailable.data = schedule.unavailable_slots(current_user, event)
    chosen = set(form.unavailable.data or [])
    answer = run(lambda: schedule.set_unavailability(current_user, event, chosen),
                 lambda _: done("Saved: you can make every slot." if not chosen else
                                f"Saved: you cannot make {len(chosen)} slot{'s' if len(chosen) != 1 else ''}; "
                                "organizers will schedule around them.",
                                url_for("schedule.availability", slug=event.slug)), form=form)
    if answer:
        return answer
    return page("schedule/availability.html", form, event=event, days=_by_day(event, event_slots), chosen=chosen,
                talks=schedule.talks_spoken_by(current_user, event))
