"""The feeds themselves, parsed back with icalendar: time zones, UIDs, SEQUENCE and redaction."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from tests.helpers import (
    MONDAY,
    SATURDAY,
    SECRET_ABSTRACT,
    SECRET_SPEAKER,
    SECRET_TITLE,
    SUNDAY,
    ZONE,
    by_summary,
    fresh,
    make_event,
    make_talk,
    parse,
    sign_up,
    vevents,
)
from workshop import calendar
from workshop.extensions import db
from workshop.models import ProposalExclusion, Tier
from workshop.services import proposals, schedule


def assert_no_trace_of_secret(body: bytes, talk) -> None:
    text = body.decode()
    for word in (SECRET_TITLE, SECRET_ABSTRACT, SECRET_SPEAKER, "Quantum", "prototype", "Rosalind", talk.public_id):
        assert word not in text, word
    unfolded = text.replace("\r\n ", "")
    assert SECRET_TITLE not in unfolded and SECRET_ABSTRACT not in unfolded


# --- time zones ---------------------------------------------------------------------------


def test_times_are_in_the_event_zone_with_its_vtimezone_across_the_dst_change(scene):
    body = fresh(calendar.event_feed, scene.organizer, scene.event)
    cal = parse(body)
    zones = list(cal.walk("VTIMEZONE"))
    assert [str(z["TZID"]) for z in zones] == [ZONE]
    names = [c.name for c in cal.subcomponents]
    assert names.index("VTIMEZONE") < names.index("VEVENT")
    assert str(cal["X-WR-TIMEZONE"]) == ZONE

    events = by_summary(body)
    for title, day, utc_hour in (("Open Results", SATURDAY, 9), (SECRET_TITLE, SUNDAY, 8),
                                 ("Early Findings", MONDAY, 8)):
        item = events[title]
        assert item["DTSTART"].params["TZID"] == ZONE
        assert item["DTEND"].params["TZID"] == ZONE
        start, end = item.decoded("DTSTART"), item.decoded("DTEND")
        # The same wall-clock time on both sides of the change; the UTC instant moves by an hour.
        assert (start.date(), start.hour, start.minute) == (day, 10, 0)
        assert start.astimezone(UTC) == datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)
        placed = next(s for s in scene.slots if s.starts_at == start.astimezone(UTC).replace(tzinfo=None))
        assert end.astimezone(UTC).replace(tzinfo=None) == placed.ends_at
    text = body.decode()
    assert "DTSTART;TZID=Europe/Berlin:20300330T100000" in text
    assert "DTSTART;TZID=Europe/Berlin:20300401T100000" in text
    assert "DTEND;TZID=Europe/Berlin:20300401T113000" in text


def test_the_vtimezone_itself_defines_the_offsets_on_both_sides(scene):
    """Read the VTIMEZONE's own rules (not the zone database by name), as a calendar app would."""
    zone = parse(fresh(calendar.event_feed, scene.organizer, scene.event)).walk("VTIMEZONE")[0]
    defined = zone.to_tz(lookup_tzid=False)
    assert datetime(2030, 3, 30, 10, tzinfo=defined).utcoffset() == timedelta(hours=1)
    assert datetime(2030, 3, 31, 10, tzinfo=defined).utcoffset() == timedelta(hours=2)
    assert datetime(2030, 4, 1, 10, tzinfo=defined).utcoffset() == timedelta(hours=2)
    assert datetime(2030, 11, 1, 10, tzinfo=defined).utcoffset() == timedelta(hours=1)


def test_utc_event_writes_utc_times(world):
    event = make_event("utc-meet", organizers=[world.organizer], starts_on=date(2030, 6, 3),
                       ends_on=date(2030, 6, 3), timezone="UTC")
    talk = make_talk(event, world.organizer, "Plain Time", Tier.ATTENDEES)
    room = schedule.add_room(world.organizer, event, "Room", 10, closed_door=True)
    slot, = schedule.add_slots(world.organizer, event, date(2030, 6, 3), [time(9, 30)], 30)
    db.session.flush()
    schedule.place(world.organizer, talk, room.id, slot.id)
    schedule.publish(world.organizer, event)
    db.session.commit()
    body = fresh(calendar.event_feed, world.organizer, event)
    assert "DTSTART:20300603T093000Z" in body.decode()
    assert not list(parse(body).walk("VTIMEZONE"))


# --- identity and changes -----------------------------------------------------------------


def uids(body: bytes) -> dict[str, str]:
    return {str(e["SUMMARY"]): str(e["UID"]) for e in vevents(body)}


def test_uids_are_stable_across_fetches_readers_and_moves_and_sequence_rises(scene):
    first = fresh(calendar.event_feed, scene.organizer, scene.event)
    again = fresh(calendar.event_feed, scene.organizer, scene.event)
    assert uids(first) == uids(again)
    assert len(set(uids(first).values())) == 3
    assert all(uid.endswith("@conclave.test") for uid in uids(first).values())
    assert {str(e["SUMMARY"]): int(e["SEQUENCE"]) for e in vevents(first)} == {
        "Open Results": 0, SECRET_TITLE: 0, "Early Findings": 0}

    scene.move(scene.attendees_talk, SATURDAY, 14)
    moved = fresh(calendar.event_feed, scene.organizer, scene.event)
    assert uids(moved) == uids(first)
    after = by_summary(moved)
    assert int(after["Early Findings"]["SEQUENCE"]) == 1
    assert int(after["Open Results"]["SEQUENCE"]) == 0
    assert after["Early Findings"].decoded("DTSTART").date() == SATURDAY

    scene.move(scene.attendees_talk, MONDAY, 14)
    assert int(by_summary(fresh(calendar.event_feed, scene.organizer, scene.event))["Early Findings"]["SEQUENCE"]) == 2

    # The same UID in the attendee's closed view, their personal feed and the session's own file.
    secret_uid = uids(first)[SECRET_TITLE]
    closed = by_summary(fresh(calendar.event_feed, scene.attendee, scene.event))
    assert str(closed[calendar.CLOSED_SESSION]["UID"]) == secret_uid
    sign_up(scene.attendee, scene.attendees_talk)
    personal = fresh(calendar.personal_feed, scene.attendee, scene.event)
    assert uids(personal)["Early Findings"] == uids(first)["Early Findings"]
    single = fresh(calendar.session_ics, scene.named, scene.secret_talk)
    assert uids(single) == {SECRET_TITLE: secret_uid}


def test_an_unpublished_move_changes_nothing_in_the_feeds(scene):
    before = fresh(calendar.event_feed, scene.organizer, scene.event)
    schedule.place(scene.organizer, scene.public_talk, scene.hall.id, scene.slot(MONDAY, 14).id)
    db.session.commit()
    after = fresh(calendar.event_feed, scene.organizer, scene.event)
    assert by_summary(after)["Open Results"].decoded("DTSTART").date() == SATURDAY
    assert int(by_summary(after)["Open Results"]["SEQUENCE"]) == 0
    assert uids(before) == uids(after)


# --- redaction ----------------------------------------------------------------------------


def test_a_restricted_session_is_closed_to_an_attendee_not_named(scene):
    body = fresh(calendar.event_feed, scene.attendee, scene.event)
    events = by_summary(body)
    assert set(events) == {"Open Results", "Early Findings", calendar.CLOSED_SESSION}
    closed = events[calendar.CLOSED_SESSION]
    assert str(closed["LOCATION"]) == "The Vault"
    assert closed.decoded("DTSTART").astimezone(UTC) == datetime(2030, 3, 31, 8, tzinfo=UTC)
    for prop in ("DESCRIPTION", "URL", "ATTENDEE", "ORGANIZER", "CATEGORIES"):
        assert prop not in closed
    assert_no_trace_of_secret(body, scene.secret_talk)


@pytest.mark.parametrize("reader", ["named", "speaker", "organizer", "admin"])
def test_people_who_may_see_the_restricted_session_get_its_title_time_and_room(scene, reader):
    """A calendar carries titles, times and rooms: the abstract and speakers of a talk that is not public stay
    out of it, even for the people who may read them in Conclave."""
    body = fresh(calendar.event_feed, getattr(scene, reader), scene.event)
    item = by_summary(body)[SECRET_TITLE]
    assert str(item["LOCATION"]) == "The Vault"
    description = str(item["DESCRIPTION"])
    assert calendar.CHATHAM_HOUSE in description
    assert SECRET_ABSTRACT not in description and SECRET_SPEAKER not in description
    assert str(item["URL"]) == f"http://conclave.test/e/retreat/proposals/{scene.secret_talk.public_id}"
    assert str(item["CLASS"]) == "CONFIDENTIAL"
    assert calendar.CLOSED_SESSION not in body.decode()


def test_flags_travel_with_the_description(scene):
    item = by_summary(fresh(calendar.event_feed, scene.attendee, scene.event))["Early Findings"]
    description = str(item["DESCRIPTION"])
    assert calendar.CHATHAM_HOUSE in description and calendar.NO_RECORDING in description
    assert "About Early Findings." not in description and "Pia Publica" not in description
    public = by_summary(fresh(calendar.event_feed, scene.attendee, scene.event))["Open Results"]
    plain = str(public["DESCRIPTION"])
    assert calendar.CHATHAM_HOUSE not in plain and calendar.NO_RECORDING not in plain
    # A public talk is public: its abstract and speakers may travel anywhere.
    assert "About Open Results." in plain and "Pia Publica" in plain


def test_class_follows_the_tier_in_force(scene):
    events = by_summary(fresh(calendar.event_feed, scene.attendee, scene.event))
    assert {summary: str(item["CLASS"]) for summary, item in events.items()} == {
        "Open Results": "PUBLIC", "Early Findings": "PRIVATE", calendar.CLOSED_SESSION: "CONFIDENTIAL"}
    proposals.change_tier(scene.public_speaker, scene.attendees_talk, Tier.SESSION)
    db.session.commit()
    events = by_summary(fresh(calendar.event_feed, scene.attendee, scene.event))
    assert str(events["Early Findings"]["CLASS"]) == "CONFIDENTIAL"


def test_an_excluded_organizer_finds_no_trace_of_the_session(scene):
    """Excluded, an organizer sees nothing where the session is: not even a closed placeholder."""
    db.session.add(ProposalExclusion(proposal_id=scene.secret_talk.id, user_id=scene.organizer.id))
    db.session.commit()
    body = fresh(calendar.event_feed, scene.organizer, scene.event)
    assert set(by_summary(body)) == {"Open Results", "Early Findings"}
    assert calendar.CLOSED_SESSION not in body.decode()
    assert_no_trace_of_secret(body, scene.secret_talk)


def test_an_excluded_attendee_finds_no_trace_of_the_session_in_any_feed(scene):
    """Excluded by their domain after signing up: the seat is gone, and no feed shows anything where the
    session is, neither the event feed nor their own (where a restricted talk would be a closed session)."""
    sign_up(scene.attendee, scene.attendees_talk)
    sign_up(scene.attendee, scene.public_talk)
    proposals.set_access(scene.public_speaker, scene.attendees_talk, "", "example.org")
    db.session.commit()
    event_feed = fresh(calendar.event_feed, scene.attendee, scene.event)
    personal = fresh(calendar.personal_feed, scene.attendee, scene.event)
    # The one closed session left is the restricted talk in the Vault, which every attendee sees closed.
    assert [(str(e["SUMMARY"]), str(e["LOCATION"])) for e in vevents(event_feed)] == [
        ("Open Results", "Hall A"), (calendar.CLOSED_SESSION, "The Vault")]
    assert [str(e["SUMMARY"]) for e in vevents(personal)] == ["Open Results"]
    for body in (event_feed, personal):
        text = body.decode().replace("\r\n ", "")
        assert "Early Findings" not in text and scene.attendees_talk.public_id not in text
        assert calendar.session_uid(scene.attendees_talk.public_id) not in text


# --- the personal feed --------------------------------------------------------------------


def test_personal_feed_has_only_my_sign_ups_with_their_status(scene):
    sign_up(scene.attendee, scene.public_talk)
    sign_up(scene.attendee, scene.attendees_talk, "waitlisted")
    sign_up(scene.named, scene.secret_talk)  # someone else's
    body = fresh(calendar.personal_feed, scene.attendee, scene.event)
    events = by_summary(body)
    assert set(events) == {"Open Results", "Early Findings"}
    assert str(events["Open Results"]["STATUS"]) == "CONFIRMED"
    assert str(events["Early Findings"]["STATUS"]) == "TENTATIVE"
    assert "waitlist" in str(events["Early Findings"]["DESCRIPTION"])
    assert str(parse(body)["X-WR-CALNAME"]) == "The Retreat: my sessions"
    assert_no_trace_of_secret(body, scene.secret_talk)


def test_personal_feed_carries_abstracts_only_when_its_owner_asks(scene):
    sign_up(scene.named, scene.secret_talk)
    sign_up(scene.named, scene.attendees_talk)
    plain = by_summary(fresh(calendar.personal_feed, scene.named, scene.event))
    assert SECRET_ABSTRACT not in str(plain[SECRET_TITLE].get("DESCRIPTION", ""))
    assert "About Early Findings." not in str(plain["Early Findings"]["DESCRIPTION"])
    detailed = by_summary(fresh(calendar.personal_feed, scene.named, scene.event, details=True))
    assert SECRET_ABSTRACT in str(detailed[SECRET_TITLE]["DESCRIPTION"])
    assert SECRET_SPEAKER in str(detailed[SECRET_TITLE]["DESCRIPTION"])
    assert "About Early Findings." in str(detailed["Early Findings"]["DESCRIPTION"])
    assert str(detailed[SECRET_TITLE]["CLASS"]) == "CONFIDENTIAL"
    # Asking for details opens nothing the owner may not see: another's restricted talk stays closed.
    sign_up(scene.attendee, scene.secret_talk)
    body = fresh(calendar.personal_feed, scene.attendee, scene.event, details=True)
    assert set(by_summary(body)) == {calendar.CLOSED_SESSION}
    assert_no_trace_of_secret(body, scene.secret_talk)


def test_personal_feed_closes_a_session_its_reader_may_no_longer_see(scene):
    sign_up(scene.attendee, scene.attendees_talk)
    sign_up(scene.attendee, scene.public_talk)
    assert "Early Findings" in by_summary(fresh(calendar.personal_feed, scene.attendee, scene.event))
    proposals.change_tier(scene.public_speaker, scene.attendees_talk, Tier.RESTRICTED)
    db.session.commit()
    body = fresh(calendar.personal_feed, scene.attendee, scene.event)
    events = by_summary(body)
    assert set(events) == {"Open Results", calendar.CLOSED_SESSION}
    closed = events[calendar.CLOSED_SESSION]
    assert "DESCRIPTION" not in closed and "URL" not in closed
    assert str(closed["LOCATION"]) == "Hall A"
    text = body.decode().replace("\r\n ", "")
    for word in ("Early Findings", "About Early Findings", scene.attendees_talk.public_id, calendar.CHATHAM_HOUSE):
        assert word not in text


def test_personal_feed_leaves_out_sessions_not_in_the_latest_release(scene):
    late = make_talk(scene.event, scene.public_speaker, "Late Addition", Tier.ATTENDEES)
    sign_up(scene.attendee, late)
    sign_up(scene.attendee, scene.public_talk)
    assert set(by_summary(fresh(calendar.personal_feed, scene.attendee, scene.event))) == {"Open Results"}
    schedule.unplace(scene.organizer, scene.public_talk, confirmed=True)
    schedule.place(scene.organizer, late, scene.hall.id, scene.slot(SATURDAY, 14).id)
    schedule.publish(scene.organizer, scene.event)
    db.session.commit()
    assert set(by_summary(fresh(calendar.personal_feed, scene.attendee, scene.event))) == {"Late Addition"}


def test_personal_feed_refuses_people_who_may_not_see_the_schedule(scene):
    for person in (scene.unsigned, scene.stranger, scene.other_organizer):
        with pytest.raises(calendar.NotInCalendar):
            fresh(calendar.personal_feed, person, scene.event)


# --- the event feed for outsiders, and one session ----------------------------------------


def test_outsiders_get_the_public_sessions_only_while_the_public_page_is_on(scene):
    scene.event.public_page = True
    db.session.commit()
    for reader in (None, scene.stranger, scene.unsigned, scene.other_organizer):
        body = fresh(calendar.event_feed, reader, scene.event)
        events = by_summary(body)
        assert set(events) == {"Open Results"}, reader
        assert str(events["Open Results"]["URL"]) == "http://conclave.test/e/retreat/public"
        text = body.decode()
        assert "Early Findings" not in text and calendar.CLOSED_SESSION not in text
        assert scene.public_talk.public_id not in text
        assert_no_trace_of_secret(body, scene.secret_talk)
    scene.event.public_page = False
    db.session.commit()
    for reader in (None, scene.stranger, scene.unsigned):
        with pytest.raises(calendar.NotInCalendar):
            fresh(calendar.event_feed, reader, scene.event)


def test_session_ics_holds_one_session_for_those_who_may_see_it(scene):
    body = fresh(calendar.session_ics, scene.attendee, scene.attendees_talk)
    assert set(by_summary(body)) == {"Early Findings"}
    assert [str(z["TZID"]) for z in parse(body).walk("VTIMEZONE")] == [ZONE]
    with pytest.raises(calendar.NotInCalendar):
        fresh(calendar.session_ics, scene.attendee, scene.secret_talk)
    with pytest.raises(calendar.NotInCalendar):
        fresh(calendar.session_ics, None, scene.public_talk)  # the public page is off
    scene.event.public_page = True
    db.session.commit()
    assert set(by_summary(fresh(calendar.session_ics, None, scene.public_talk))) == {"Open Results"}
    unplaced = make_talk(scene.event, scene.public_speaker, "Not Yet", Tier.ATTENDEES)
    with pytest.raises(calendar.NotInCalendar):
        fresh(calendar.session_ics, scene.organizer, unplaced)


def test_no_release_yet_gives_an_empty_calendar(world):
    body = fresh(calendar.event_feed, world.organizer, world.event)
    cal = parse(body)
    assert str(cal["X-WR-CALNAME"]) == world.event.title
    assert str(cal["VERSION"]) == "2.0" and "PRODID" in cal
    assert list(cal.walk("VEVENT")) == []


def test_every_event_carries_the_required_properties(scene):
    sign_up(scene.attendee, scene.secret_talk)
    for body in (fresh(calendar.event_feed, scene.attendee, scene.event),
                 fresh(calendar.personal_feed, scene.attendee, scene.event)):
        for item in vevents(body):
            for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SEQUENCE", "SUMMARY", "LOCATION"):
                assert prop in item, prop
            assert item.decoded("DTSTAMP").tzinfo is not None


def test_feeds_cost_a_fixed_number_of_queries(scene):
    from tests.helpers import counting

    def count() -> int:
        fresh(calendar.event_feed, scene.attendee, scene.event)  # reload what the last commit expired
        with counting() as statements:
            fresh(calendar.event_feed, scene.attendee, scene.event)
        return len(statements)

    small = count()
    more = [make_talk(scene.event, scene.public_speaker, f"Extra {i}", Tier.ATTENDEES) for i in range(4)]
    rooms = [schedule.add_room(scene.organizer, scene.event, f"Room {i}", 20, closed_door=True) for i in range(4)]
    db.session.flush()
    for talk, room in zip(more, rooms, strict=True):
        schedule.place(scene.organizer, talk, room.id, scene.slot(SUNDAY, 10).id)
    schedule.publish(scene.organizer, scene.event)
    db.session.commit()
    assert len(vevents(fresh(calendar.event_feed, scene.attendee, scene.event))) == 7
    assert count() == small
