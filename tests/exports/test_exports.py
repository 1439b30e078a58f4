"""The schedule exports: frab XML read back by a frab schedule reader (schedule-convert, the converter
conference tooling uses) and checked for the structure conference apps expect, JSON against its own schema,
each carrying only what its reader may see, and the organizers' CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import jsonschema
import pytest
from lxml import etree
from schedule_convert.importers.frab_xml import FrabXmlImporter

from tests.helpers import Programme, login_as, make_talk, sign_up
from workshop import calendar, policy
from workshop.extensions import db
from workshop.models import Candidate, CandidateStatus, Tier
from workshop.services import exports, invites, proposals, signups
from workshop.services.schedule import Session

# What a frab reader needs of each <event> (frab's export, as conference apps such as Giggity read it).
EVENT_FIELDS = {"date", "start", "duration", "room", "slug", "title", "subtitle", "track", "type", "abstract",
                "persons"}
SECRET = "Zanzibar weight exfiltration"


@pytest.fixture
def programme(ctx) -> Programme:
    """The sessions' programme (tests.helpers), with a public talk in the hall's second slot and the public
    page on."""
    p = Programme()
    p.public_talk = make_talk(p.event, p.speaker, "Open results for everyone", Tier.PUBLIC,
                              abstract="What we can say in public.", no_recording=True)
    p.place(p.public_talk, p.hall, p.slots[1])
    p.publish()
    p.event.public_page = True
    db.session.commit()
    return p


def feed_token(user, event) -> str:
    token = calendar.reset_feed(user, event)
    db.session.commit()
    return token


def valid_frab(body: bytes) -> etree._Element:
    """The document, once a frab reader has read every event of it back as what the XML says, and every
    element a frab reader looks for is where it looks."""
    document = etree.fromstring(body)
    assert document.tag == "schedule"
    assert document.findtext("version") is not None
    conference = document.find("conference")
    assert conference is not None and conference.findtext("title") and conference.findtext("acronym")
    days = document.findall("day")
    assert [int(day.get("index")) for day in days] == list(range(1, len(days) + 1))
    for day in days:
        assert day.get("date")
        if day.find("room") is not None:  # a day with sessions says when it starts and ends
            assert day.get("start") and day.get("end")
        for room in day.findall("room"):
            assert room.get("name")
            for event in room.findall("event"):
                assert event.get("id", "").isdigit() and event.get("guid")
                assert {child.tag for child in event} >= EVENT_FIELDS, event.get("guid")
                assert event.findtext("room") == room.get("name")
    read = FrabXmlImporter().parse(io.BytesIO(body))
    events = list(document.iter("event"))
    assert len(read.events) == len(events)
    for parsed, event in zip(read.events, events, strict=True):
        hours, minutes = event.findtext("duration").split(":")
        assert parsed.title == event.findtext("title")
        assert parsed.duration == int(hours) * 60 + int(minutes) > 0
        assert parsed.room.name == event.findtext("room")
        assert parsed.start.strftime("%H:%M") == event.findtext("start")
    return document


def titles(document: etree._Element) -> list[str]:
    return [e.findtext("title") for e in document.iter("event")]


def as_json(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/json"
    data = response.get_json()
    jsonschema.validate(data, exports.ScheduleExport.model_json_schema(by_alias=True))
    exports.ScheduleExport.model_validate(data)
    return data


# --- frab XML ---------------------------------------------------------------------------------


def test_public_xml_is_valid_frab_with_the_public_talk_only(client, programme):
    login_as(client, None)
    response = client.get("/e/retreat/schedule.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    document = valid_frab(response.data)
    assert titles(document) == ["Open results for everyone"]
    [event] = document.iter("event")
    assert event.findtext("room") == "Great Hall"
    assert event.findtext("start") == "10:00" and event.findtext("duration") == "00:50"  # Berlin time
    assert event.findtext("date").endswith("+01:00") or event.findtext("date").endswith("+02:00")
    assert event.findtext("abstract") == "What we can say in public."
    assert event.findtext("recording/optout") == "true"
    assert document.findtext("conference/time_zone_name") == "Europe/Berlin"
    text = response.get_data(as_text=True)
    for hidden in ("Sparse probes", "Evaluations that bite", SECRET, "Closed session", programme.small.public_id):
        assert hidden not in text


def test_personal_xml_is_valid_frab_with_closed_sessions_as_placeholders(client, programme):
    token = feed_token(programme.a, programme.event)
    login_as(client, None)
    document = valid_frab(client.get(f"/calendar/{token}.xml").data)
    assert sorted(titles(document)) == sorted(["Sparse probes for deceptive circuits", "Evaluations that bite",
                                               "Open results for everyone", "Closed session"])
    [closed] = [e for e in document.iter("event") if e.findtext("title") == "Closed session"]
    assert closed.findtext("room") == "Library" and closed.findtext("abstract") == ""
    assert closed.findtext("type") == "closed" and closed.find("url") is None
    assert SECRET not in etree.tostring(document, encoding="unicode")

    named = valid_frab(client.get(f"/calendar/{feed_token(programme.named, programme.event)}.xml").data)
    assert SECRET in titles(named) and "Closed session" not in titles(named)


def test_an_empty_release_is_still_valid_frab(client, ctx):
    p = Programme("quiet")
    p.event.public_page = True
    db.session.commit()
    login_as(client, None)
    document = valid_frab(client.get("/e/quiet/schedule.xml").data)
    assert titles(document) == [] and len(document.findall("day")) == 1


def test_guids_and_ids_are_stable_and_name_no_talk(client, programme):
    """The same session has the same guid and id for every reader and in every export; neither is the talk's
    public id, so a placeholder's guid tells nothing."""
    a = valid_frab(client.get(f"/calendar/{feed_token(programme.a, programme.event)}.xml").data)
    named = valid_frab(client.get(f"/calendar/{feed_token(programme.named, programme.event)}.xml").data)
    guid_of = {e.findtext("title"): (e.get("guid"), e.get("id")) for e in named.iter("event")}
    closed = [(e.get("guid"), e.get("id")) for e in a.iter("event") if e.findtext("title") == "Closed session"]
    assert closed == [guid_of[SECRET]]
    assert programme.secret.public_id not in guid_of[SECRET][0]


# --- JSON -------------------------------------------------------------------------------------


def test_public_json_follows_its_schema_and_holds_public_talks_only(client, programme):
    login_as(client, programme.organizer)  # a cookie changes nothing: the public export is public
    data = as_json(client, "/e/retreat/schedule.json")
    assert data["schema"] == "conclave.schedule/1" and data["scope"] == "public"
    assert data["release"]["number"] == 2
    assert [s["title"] for s in data["sessions"]] == ["Open results for everyone"]
    [session] = data["sessions"]
    assert session["abstract"] == "What we can say in public." and session["speakers"] == ["Quentin Quillfeather"]
    assert session["url"] == "http://conclave.test/e/retreat/public" and session["duration_minutes"] == 50
    assert [r["name"] for r in data["rooms"]] == ["Great Hall"]


def test_personal_json_shows_what_its_owner_may_see(client, programme):
    sign_up(programme.a, programme.hall_talk)
    token = feed_token(programme.a, programme.event)
    data = as_json(client, f"/calendar/{token}.json")
    assert data["scope"] == "personal"
    by_title = {s["title"]: s for s in data["sessions"]}
    assert set(by_title) == {"Sparse probes for deceptive circuits", "Evaluations that bite",
                             "Open results for everyone", "Closed session"}
    closed = by_title["Closed session"]
    assert closed["closed"] and closed["id"] is None and closed["url"] is None and closed["kind"] is None
    assert by_title["Evaluations that bite"]["my_signup"] == "confirmed"
    # Titles, times and rooms: the abstract and speakers of talks that are not public only on request.
    hall = by_title["Evaluations that bite"]
    assert hall["abstract"] is None and hall["speakers"] == []
    assert by_title["Open results for everyone"]["abstract"] == "What we can say in public."
    calendar.set_feed_details(programme.a, programme.event, True)
    db.session.commit()
    hall = {s["title"]: s for s in as_json(client, f"/calendar/{token}.json")["sessions"]}["Evaluations that bite"]
    assert hall["abstract"] == "About Evaluations that bite." and hall["speakers"] == ["Quentin Quillfeather"]


def test_an_excluded_person_finds_no_trace_in_their_export(client, programme):
    token = feed_token(programme.a, programme.event)
    proposals.set_access(programme.speaker, programme.hall_talk, "", programme.a.email)
    db.session.commit()
    data = as_json(client, f"/calendar/{token}.json")
    assert [s["title"] for s in data["sessions"]].count("Closed session") == 1  # the restricted talk only
    assert "Evaluations that bite" not in json.dumps(data) and programme.hall_talk.public_id not in json.dumps(data)
    assert len(data["sessions"]) == 3


def test_a_session_exports_with_its_own_length(client, programme, monkeypatch):
    """The length comes from the session, not from its first slot: once a session spans slots, its end is
    later than its slot's, and every export says so."""
    monkeypatch.setattr(Session, "ends_at", property(lambda s: s.slot.ends_at + timedelta(minutes=60)))
    data = as_json(client, "/e/retreat/schedule.json")
    assert data["sessions"][0]["duration_minutes"] == 110
    document = valid_frab(client.get("/e/retreat/schedule.xml").data)
    assert [e.findtext("duration") for e in document.iter("event")] == ["01:50"]


# --- who gets what ----------------------------------------------------------------------------


def test_public_exports_exist_only_while_the_public_page_is_on(client, programme):
    programme.event.public_page = False
    db.session.commit()
    for user in (None, programme.a, programme.organizer):
        login_as(client, user)
        assert client.get("/e/retreat/schedule.json").status_code == 404
        assert client.get("/e/retreat/schedule.xml").status_code == 404


def test_personal_exports_go_dark_when_access_ends(client, programme):
    token = feed_token(programme.a, programme.event)
    assert client.get(f"/calendar/{token}.json").status_code == 200
    candidate = db.session.query(Candidate).filter_by(event_id=programme.event.id, user_id=programme.a.id).one()
    invites.revoke(programme.organizer, programme.event, [candidate])
    db.session.commit()
    policy.forget_memo()
    assert candidate.status == CandidateStatus.REVOKED
    for suffix in ("json", "xml", "ics"):
        assert client.get(f"/calendar/{token}.{suffix}").status_code == 404
    assert client.get("/calendar/not-a-token.json").status_code == 404


# --- the organizers' CSV ----------------------------------------------------------------------


def test_organizers_csv_lists_every_session_with_its_seats(client, programme):
    a0, a1, a2 = programme.attendees
    for person in (a0, a1, a2):  # the Library seats two
        signups.sign_up(person, programme.small)
        db.session.commit()
        policy.forget_memo()
    programme.small.title = "=HYPERLINK(\"http://evil\")"
    db.session.commit()
    login_as(client, programme.organizer)
    response = client.get("/e/retreat/manage/schedule.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["title"] for r in rows] == ["'=HYPERLINK(\"http://evil\")", "Evaluations that bite", SECRET,
                                          "Open results for everyone"]
    small = rows[0]
    assert (small["seats taken"], small["waitlist"], small["checked in"]) == ("2", "1", "0")
    assert (small["starts"], small["ends"], small["minutes"], small["room"]) == ("09:00", "09:50", "50", "Library")
    for role in (programme.a, programme.speaker):
        login_as(client, role)
        assert client.get("/e/retreat/manage/schedule.csv").status_code == 403


def test_characters_xml_cannot_hold_are_left_out(client, programme):
    programme.public_talk.title = "Bell\x07 and\x1b escape & <friends>"
    programme.public_talk.abstract = "Form\x0cfeed."
    db.session.commit()
    document = valid_frab(client.get("/e/retreat/schedule.xml").data)
    [event] = document.iter("event")
    assert event.findtext("title") == "Bell and escape & <friends>"
    assert event.findtext("abstract") == "Formfeed."
