"""The organizers' schedule: rooms, slots, the editor grid with its conflicts, publishing and releases;
and the page where speakers say which slots they cannot make.

Every organizers' route asks ``policy.can_manage_schedule``: people who may not know the event get 404,
participants (who know it) get 403. A refused action re-renders its page with the reason and a 4xx, so
that nothing changes and the organizer sees why where they were working.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import policy
from ..extensions import db
from ..forms.accounts import ConfirmForm
from ..forms.schedule import AvailabilityForm, PlaceForm, RoomForm, SessionForm, SlotsForm
from ..models import (
    Event,
    Placement,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Room,
    ScheduleRelease,
    Slot,
    Unavailability,
)
from ..services import schedule
from ..services.errors import DomainError
from ._helpers import form_error, load_event

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
        days[schedule.local(event, slot.starts_at).date()].append(slot)
    return sorted(days.items())


def _labels(event: Event, slots) -> dict[int, str]:
    """Each slot as people read it: "Tue 3 Jun, 09:00–09:45", in the event's time zone."""
    labels = {}
    for slot in slots:
        start, end = schedule.local(event, slot.starts_at), schedule.local(event, slot.ends_at)
        labels[slot.id] = f"{start:%a} {start.day} {start:%b}, {start:%H:%M}–{end:%H:%M}"
    return labels


def _starts(event: Event, slot: Slot) -> str:
    """A slot's start as people read it in the event's time zone: "Tue 3 Jun, 09:00"."""
    start = schedule.local(event, slot.starts_at)
    return f"{start:%a} {start.day} {start:%b}, {start:%H:%M}"


def _hours(event: Event, slots) -> dict[int, str]:
    """Each slot's start and end alone, "09:00–09:45", for pages that group slots by day."""
    return {slot.id: f"{schedule.local(event, slot.starts_at):%H:%M}–{schedule.local(event, slot.ends_at):%H:%M}"
            for slot in slots}


# --- the editor ---------------------------------------------------------------------------------


def _entries(placements) -> list[dict]:
    """The working schedule as publishing would record it, to tell whether it changed since the release."""
    return sorted(({"proposal": p.proposal_id, "room": p.room_id, "slot": p.slot_id, "sequence": p.sequence}
                   for p in placements), key=lambda e: e["proposal"])


def _editor(event: Event, status: int = 200):
    grid = schedule.board(event)
    sessions = grid.proposals
    release = policy.latest_release(event)
    unpublished = bool(grid.placements) and (release is None or release.entries != _entries(grid.placements))
    counts = {"accepted": len(grid.placements) + len(grid.unplaced), "placed": len(grid.placements)}
    autoschedule_url = (url_for("autoschedule.form", slug=event.slug)
                        if "autoschedule.form" in current_app.view_functions else None)
    return render_template(
        "schedule/editor.html", event=event, grid=grid, sessions=sessions, days=_by_day(event, grid.slots),
        labels=_labels(event, grid.slots), hours=_hours(event, grid.slots), release=release, unpublished=unpublished,
        counts=counts, autoschedule_url=autoschedule_url, public_url=_public_url(event),
        starts={slot.id: _starts(event, slot) for slot in grid.slots},
    ), status


def _refuse(event: Event, message: str, status: int):
    """Nothing is written; the editor comes back with the reason."""
    db.session.rollback()
    flash(message, "error")
    return _editor(event, status)


def _form_message(form) -> str:
    messages = [message for errors in form.errors.values() for message in errors]
    return " ".join(messages) or "The form is not complete."


def _proposal(event: Event, public_id: str | None) -> Proposal | None:
    """One of this event's proposals by its public id (another event's id finds nothing)."""
    return db.session.scalar(sa.select(Proposal).where(Proposal.event_id == event.id,
                                                       Proposal.public_id == (public_id or "")))


def _chosen_session(event: Event, form):
    """The proposal a session form names, or (None, the editor again with a 400 saying what is wrong)."""
    if not form.validate_on_submit():
        return None, _refuse(event, _form_message(form), 400)
    proposal = _proposal(event, form.proposal.data)
    if proposal is None:
        return None, _refuse(event, "That session is not one of this event's proposals.", 400)
    return proposal, None


@bp.get(BASE)
def editor(slug: str):
    """Rooms × slots with the accepted sessions, their conflicts, the unplaced list and publishing.
    Organizers and admins (404 to whoever may not know the event, 403 to its participants)."""
    event = _managed(slug)
    return _editor(event)


@bp.post(f"{BASE}/place")
def place(slug: str):
    """Put a session in a room and slot, or move it there; conflicts are allowed, and flagged. Organizers and
    admins. 400 for an incomplete form or a proposal that is not this event's; 409 for one that is not accepted,
    or a room or slot of another event."""
    event = _managed(slug)
    form = PlaceForm()
    proposal, refused = _chosen_session(event, form)
    if refused:
        return refused
    try:
        placement = schedule.place(current_user, proposal, form.room.data, form.slot.data)
    except DomainError as error:
        return _refuse(event, error.message, 409)
    room, slot = db.session.get(Room, placement.room_id), db.session.get(Slot, placement.slot_id)
    db.session.commit()
    flash(f"“{proposal.title}” is in {room.name}, {_labels(event, [slot])[slot.id]}.", "success")
    return redirect(url_for("schedule.editor", slug=event.slug))


@bp.post(f"{BASE}/unplace")
def unplace(slug: str):
    """Take a session off the grid; it goes back to the unplaced list. Organizers and admins; 409 if it is not
    placed."""
    event = _managed(slug)
    form = SessionForm()
    proposal, refused = _chosen_session(event, form)
    if refused:
        return refused
    try:
        schedule.unplace(current_user, proposal)
    except DomainError as error:
        return _refuse(event, error.message, 409)
    db.session.commit()
    flash(f"“{proposal.title}” is off the grid, back in the unplaced list.", "success")
    return redirect(url_for("schedule.editor", slug=event.slug))


@bp.post(f"{BASE}/pin")
def pin(slug: str):
    """Pin a placed session (the auto-scheduler leaves it where it is), or unpin it. Organizers and admins;
    409 if it is not placed."""
    event = _managed(slug)
    form = SessionForm()
    proposal, refused = _chosen_session(event, form)
    if refused:
        return refused
    placement = db.session.scalar(sa.select(Placement).where(Placement.proposal_id == proposal.id))
    pinned = not (placement is not None and placement.pinned)
    try:
        schedule.set_pinned(current_user, proposal, pinned)
    except DomainError as error:
        return _refuse(event, error.message, 409)
    db.session.commit()
    flash(f"“{proposal.title}” is pinned: the auto-scheduler leaves it where it is." if pinned
          else f"“{proposal.title}” is unpinned: the auto-scheduler may move it.", "success")
    return redirect(url_for("schedule.editor", slug=event.slug))


@bp.post(f"{BASE}/publish")
def publish(slug: str):
    """Publish the working schedule as the next release; attendees affected by changes are emailed.
    Organizers and admins; 409 when nothing is placed or nothing changed since the last release."""
    event = _managed(slug)
    if not ConfirmForm().validate_on_submit():
        return _refuse(event, "The form expired; try again.", 400)
    try:
        release = schedule.publish(current_user, event)
    except DomainError as error:
        return _refuse(event, error.message, 409)
    db.session.commit()
    if release.number == 1:
        flash("Release 1 is published; attendees can see the schedule now.", "success")
    else:
        flash(f"Release {release.number} is published; attendees affected by changes have been emailed.", "success")
    return redirect(url_for("schedule.editor", slug=event.slug))


@bp.get(f"{BASE}/releases")
def releases(slug: str):
    """Every published release: its number, when, by whom, and how many sessions it holds. Organizers and
    admins."""
    event = _managed(slug)
    rows = db.session.scalars(sa.select(ScheduleRelease).where(ScheduleRelease.event_id == event.id)
                              .options(selectinload(ScheduleRelease.created_by))
                              .order_by(ScheduleRelease.number.desc())).all()
    return render_template("schedule/releases.html", event=event, releases=rows, public_url=_public_url(event))


# --- rooms --------------------------------------------------------------------------------------


def _rooms_page(event: Event, form: RoomForm, status: int = 200):
    placed = sa.select(sa.func.count()).where(Placement.room_id == Room.id).correlate(Room).scalar_subquery()
    rows = db.session.execute(sa.select(Room, placed).where(Room.event_id == event.id)
                              .order_by(Room.position, Room.id)).all()
    return render_template("schedule/rooms.html", event=event, form=form, rows=rows, delete_form=ConfirmForm()), (
        400 if form.errors and status == 200 else status)


@bp.route(f"{BASE}/rooms", methods=["GET", "POST"])
def rooms(slug: str):
    """The event's rooms, and a form to add one. Organizers and admins; 400 for a bad or duplicate room."""
    event = _managed(slug)
    form = RoomForm()
    if form.validate_on_submit():
        try:
            room = schedule.add_room(current_user, event, form.name.data, form.capacity.data, form.closed_door.data)
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
        else:
            db.session.commit()
            flash(f"{room.name} is added ({room.capacity} seats{', closed door' if room.closed_door else ''}).",
                  "success")
            return redirect(url_for("schedule.rooms", slug=event.slug))
    return _rooms_page(event, form)


def _delete(event: Event, remove, what: str, page, endpoint: str):
    """Delete an empty room or slot: load → check the form → act → commit. A refusal (sessions in it)
    answers 409 on the same page, with the reason."""
    if not ConfirmForm().validate_on_submit():
        abort(400, "The form expired; try again.")
    try:
        remove(current_user, event)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return page(event, None, 409)
    db.session.commit()
    flash(f"{what} is deleted.", "success")
    return redirect(url_for(endpoint, slug=event.slug))


@bp.post(f"{BASE}/rooms/<id:room_id>/delete")
def delete_room(slug: str, room_id: int):
    """Delete an empty room; one with sessions in it is refused (409) until they move. Organizers and admins;
    404 for a room of another event."""
    event = _managed(slug)
    room = db.session.scalar(sa.select(Room).where(Room.id == room_id, Room.event_id == event.id)) or abort(404)
    return _delete(event, lambda actor, e: schedule.delete_room(actor, e, room), room.name,
                   lambda e, _, status: _rooms_page(e, RoomForm(formdata=None), status), "schedule.rooms")


# --- slots --------------------------------------------------------------------------------------


def _slots_page(event: Event, form: SlotsForm, status: int = 200):
    placed = sa.select(sa.func.count()).where(Placement.slot_id == Slot.id).correlate(Slot).scalar_subquery()
    rows = db.session.execute(sa.select(Slot, placed).where(Slot.event_id == event.id)
                              .order_by(Slot.starts_at)).all()
    counts = {slot.id: n for slot, n in rows}
    slots = [slot for slot, _ in rows]
    return render_template("schedule/slots.html", event=event, form=form, days=_by_day(event, slots),
                           labels=_labels(event, slots), hours=_hours(event, slots), counts=counts,
                           delete_form=ConfirmForm()), 400 if form.errors and status == 200 else status


@bp.route(f"{BASE}/slots", methods=["GET", "POST"])
def slots(slug: str):
    """The slot grid per day, and a form to add several start times at once. Organizers and admins; 400 for
    a bad time, a day outside the event or a slot that overlaps another."""
    event = _managed(slug)
    form = SlotsForm()
    if not form.is_submitted():
        form.day.data = event.starts_on
    if form.validate_on_submit():
        try:
            added = schedule.add_slots(current_user, event, form.day.data, form.times, form.minutes.data,
                                       form.block.data or "")
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
        else:
            db.session.commit()
            flash(f"{len(added)} slot{'s' if len(added) != 1 else ''} added on {form.day.data:%a} "
                  f"{form.day.data.day} {form.day.data:%b}.", "success")
            return redirect(url_for("schedule.slots", slug=event.slug))
    return _slots_page(event, form)


@bp.post(f"{BASE}/slots/<id:slot_id>/delete")
def delete_slot(slug: str, slot_id: int):
    """Delete an empty slot; one with sessions in it is refused (409) until they move. Organizers and admins;
    404 for a slot of another event."""
    event = _managed(slug)
    slot = db.session.scalar(sa.select(Slot).where(Slot.id == slot_id, Slot.event_id == event.id)) or abort(404)
    label = _labels(event, [slot])[slot.id]
    return _delete(event, lambda actor, e: schedule.delete_slot(actor, e, slot), f"The slot {label}",
                   lambda e, _, status: _slots_page(e, SlotsForm(formdata=None), status), "schedule.slots")


# --- speakers' availability ---------------------------------------------------------------------


@bp.route("/e/<slug>/availability", methods=["GET", "POST"])
def availability(slug: str):
    """A speaker ticks the slots they cannot make. Confirmed speakers of accepted talks who signed the
    agreement (policy.can_state_availability); 403 for other participants, 404 for people who may not know
    the event; 400 for a slot that is not the event's."""
    event = load_event(slug, policy.can_view_event, policy.can_state_availability)
    event_slots = db.session.scalars(sa.select(Slot).where(Slot.event_id == event.id).order_by(Slot.starts_at)).all()
    labels = _labels(event, event_slots)
    form = AvailabilityForm()
    form.unavailable.choices = [(slot.id, labels[slot.id]) for slot in event_slots]
    if form.validate_on_submit():
        try:
            schedule.set_unavailability(current_user, event, set(form.unavailable.data or []))
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
        else:
            db.session.commit()
            n = len(set(form.unavailable.data or []))
            flash("Saved: you can make every slot." if n == 0 else
                  f"Saved: you cannot make {n} slot{'s' if n != 1 else ''}; organizers will schedule around them.",
                  "success")
            return redirect(url_for("schedule.availability", slug=event.slug))
    elif not form.is_submitted():
        form.unavailable.data = list(db.session.scalars(sa.select(Unavailability.slot_id).where(
            Unavailability.user_id == current_user.id, Unavailability.slot_id.in_([s.id for s in event_slots]))))
    talks = db.session.scalars(sa.select(Proposal).join(ProposalSpeaker, ProposalSpeaker.proposal_id == Proposal.id)
                               .where(Proposal.event_id == event.id, Proposal.status == ProposalStatus.ACCEPTED,
                                      ProposalSpeaker.user_id == current_user.id, ProposalSpeaker.confirmed.is_(True))
                               .order_by(Proposal.title)).all()
    chosen = set(form.unavailable.data or [])
    return render_template("schedule/availability.html", event=event, form=form, days=_by_day(event, event_slots),
                           hours=_hours(event, event_slots), chosen=chosen, talks=talks), 400 if form.errors else 200
