"""The whole schedule travels with an exported event: rooms, slots and breaks, unavailability, placements
with spans and pins, every release, sign-ups with their waitlists, and attendance. Export → empty database →
import → the same export, the same rows, and the same published schedule."""

from __future__ import annotations

import json
from datetime import time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers import make_event, make_participant, make_talk, make_user, wipe_database
from workshop import policy
from workshop.extensions import db
from workshop.models import (
    Attendance,
    Event,
    Placement,
    Proposal,
    Room,
    ScheduleRelease,
    SignUp,
    SignUpStatus,
    Slot,
    Unavailability,
    User,
    utcnow,
)
from workshop.services import schedule
from workshop.services.transfer import export_event, import_event


def build() -> None:
    organizer = make_user("org@example.org", "Olga Organizer")
    event = make_event("retreat", organizers=[organizer], timezone="Europe/Berlin")
    speaker = make_participant(event, "speaker@lab.org")
    fans = [make_participant(event, f"fan{i}@example.org") for i in range(3)]
    hall = schedule.add_room(organizer, event, "Hall", 2, True)
    nook = schedule.add_room(organizer, event, "Nook", 10, False)
    morning = schedule.add_slots(organizer, event, event.starts_on, [time(9), time(9, 45)], 45, "Day 1")
    schedule.add_slots(organizer, event, event.starts_on, [time(10, 30)], 30, is_break=True)
    [late] = schedule.add_slots(organizer, event, event.starts_on, [time(14)], 60)
    db.session.add(Unavailability(user_id=speaker.id, slot_id=late.id))
    long = make_talk(event, speaker, "A long look", duration_minutes=90)
    short = make_talk(event, fans[0], "A short one")
    gone = make_talk(event, fans[1], "Taken off later")
    schedule.place(organizer, long, hall.id, morning[0].id, pinned=True)
    schedule.place(organizer, short, nook.id, morning[0].id)
    schedule.place(organizer, gone, nook.id, late.id)
    first = schedule.publish(organizer, event)
    db.session.flush()
    # Release 1 was published before sessions could span slots: it has no end_slot, and keeps none.
    first.entries = [{k: v for k, v in e.items() if k != "end_slot"} for e in first.entries]
    db.session.commit()
    policy.forget_memo()
    db.session.add_all([SignUp(proposal_id=long.id, user_id=fans[0].id, created_at=utcnow() - timedelta(hours=2)),
                        SignUp(proposal_id=long.id, user_id=fans[1].id, created_at=utcnow() - timedelta(hours=1)),
                        SignUp(proposal_id=long.id, user_id=fans[2].id, status=SignUpStatus.WAITLISTED),
                        SignUp(proposal_id=gone.id, user_id=speaker.id)])
    db.session.add(Attendance(proposal_id=long.id, user_id=fans[0].id, source="checkin"))
    db.session.commit()
    schedule.unplace(organizer, gone, confirmed=True)
    schedule.place(organizer, short, nook.id, morning[1].id)
    schedule.publish(organizer, event)
    db.session.commit()


def dump(slug: str) -> dict[str, Any]:
    """The schedule's rows with ids replaced by what they point at (written against the tables, so a column
    the exporter forgets shows up as a difference)."""
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
    emails = dict(db.session.execute(sa.select(User.id, User.email)).all())
    titles = dict(db.session.execute(sa.select(Proposal.id, Proposal.title).where(Proposal.event_id == event.id)).all())
    rooms = dict(db.session.execute(sa.select(Room.id, Room.name).where(Room.event_id == event.id)).all())
    slots = dict(db.session.execute(sa.select(Slot.id, Slot.starts_at).where(Slot.event_id == event.id)).all())
    refs = {"users": emails, "proposals": titles, "rooms": rooms, "slots": slots}

    def rows(model, *where) -> list[dict]:
        out = []
        for row in db.session.execute(sa.select(model.__table__).where(*where)).mappings():
            record = {}
            for column in model.__table__.columns:
                if column.name == "id":
                    continue
                value = row[column.name]
                if column.foreign_keys:
                    target = next(iter(column.foreign_keys)).column.table.name
                    if target == "events":
                        continue
                    value = refs[target].get(value) if value is not None else None
                record[column.name] = value.value if hasattr(value, "value") else value
            out.append(record)
        return sorted(out, key=lambda r: json.dumps(r, sort_keys=True, default=str))

    releases = rows(ScheduleRelease, ScheduleRelease.event_id == event.id)
    for release in releases:
        release["entries"] = sorted(
            ({key: (titles if key == "proposal" else rooms if key == "room" else slots if "slot" in key else {}).get(
                value, value) for key, value in entry.items()} for entry in release["entries"]),
            key=lambda e: e["proposal"])
    return {
        "rooms": rows(Room, Room.event_id == event.id),
        "slots": rows(Slot, Slot.event_id == event.id),
        "unavailability": rows(Unavailability, Unavailability.slot_id.in_(list(slots))),
        "placements": rows(Placement, Placement.event_id == event.id),
        "releases": releases,
        "signups": rows(SignUp, SignUp.proposal_id.in_(list(titles))),
        "attendance": rows(Attendance, Attendance.proposal_id.in_(list(titles))),
    }


def normalized(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "exported_at"}


def published(slug: str) -> list[tuple]:
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug))
    organizer = event.organizers[0]
    policy.forget_memo()
    return [(s.proposal.title, s.room.name, s.starts_at, s.ends_at, s.sequence)
            for s in schedule.published(organizer, event).sessions]


def test_the_schedule_round_trips(ctx):
    build()
    before, rows, shown = export_event("retreat"), dump("retreat"), published("retreat")
    plan = before["schedule"]
    assert [r["name"] for r in plan["rooms"]] == ["Hall", "Nook"]
    assert [s["is_break"] for s in plan["slots"]] == [False, False, True, False]
    assert [(p["proposal"], p["span"], p["pinned"]) for p in plan["placements"]][0][1:] == (2, True)
    assert [r["number"] for r in plan["releases"]] == [1, 2]
    assert all("end_slot" not in e for e in plan["releases"][0]["entries"])
    assert all("end_slot" in e for e in plan["releases"][1]["entries"])
    assert sorted(s["status"] for s in plan["signups"]) == ["confirmed", "confirmed", "confirmed", "waitlisted"]
    assert len(rows["releases"]) == 2 and rows["placements"] and rows["unavailability"] and rows["attendance"]
    assert shown[0][0] == "A long look" and shown[0][3] - shown[0][2] == timedelta(minutes=90)

    wipe_database()
    import_event(before)
    db.session.commit()
    assert normalized(export_event("retreat")) == normalized(before)
    assert dump("retreat") == rows
    assert published("retreat") == shown


def test_version_2_files_still_import_without_a_schedule(ctx):
    build()
    data = export_event("retreat")
    data["version"] = 2
    del data["schedule"]
    wipe_database()
    import_event(data)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Proposal)) == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Room)) == 0


def test_a_version_3_file_without_its_schedule_is_refused(ctx):
    build()
    data = export_event("retreat")
    del data["schedule"]
    wipe_database()
    with pytest.raises(ValueError, match="missing schedule"):
        import_event(data)


@pytest.mark.parametrize("damage, message", [
    (lambda s: s["placements"][0].update(room="Attic"), "schedule.placements[0]: there is no room “Attic”"),
    (lambda s: s["placements"][0].update(span=0), "over a span that is not from 1 to"),
    (lambda s: s["slots"][1].update(starts_at=s["slots"][0]["starts_at"]), "overlaps the one before it"),
    (lambda s: s["slots"][0].update(ends_at=s["slots"][0]["starts_at"]), "the slot ends before it starts"),
    (lambda s: s["releases"][1]["entries"][0].update(end_slot="2001-01-01T00:00:00+00:00"),
     "there is no slot starting at 2001-01-01"),
    (lambda s: s["releases"][1].update(number=1), "release 1 appears twice"),
    (lambda s: s["signups"].append(dict(s["signups"][0])), "signed up for the session twice"),
    (lambda s: s["signups"][0].update(status="maybe"), "should be one of confirmed, waitlisted"),
    (lambda s: s["rooms"].append(dict(s["rooms"][0])), "the name is empty or appears twice"),
])
def test_a_bad_schedule_is_refused_before_anything_is_written(ctx, damage, message):
    build()
    data = export_event("retreat")
    damage(data["schedule"])
    wipe_database()
    with pytest.raises(ValueError) as refused:
        import_event(data)
    assert message in str(refused.value)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0
