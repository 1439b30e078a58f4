"""Bad input gets a clear 4xx, never a 500, and changes nothing.

Each test takes a snapshot of every table before the request and compares it after, so a
refusal that still wrote something (a half-saved form, a touched candidate, a stray token)
fails. Each also looks for the words the person needs to put things right: an error that
only says "400" is not clear.
"""

from __future__ import annotations

import html
import io
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import (
    COSPEAKER_EMAIL,
    Scene,
    build_scene,
    event_form,
    keep_materials_in,
    link_token,
    login_as,
    make_candidate,
    open_link,
    snapshot,
    stored_files,
    talk_form,
)
from workshop.extensions import db
from workshop.models import Candidate, CandidateStatus, Invitation, LoginToken, Tier, utcnow
from workshop.services import accounts, invites, proposals

S = CandidateStatus
CLIENT_ERROR = range(400, 500)
BIG = 10**20  # past every database's integer column


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def assert_refused(response, status, *messages: str) -> None:
    """``status`` is a code or a range; every message must be shown to the person."""
    text = text_of(response)
    codes = status if isinstance(status, range) else (status,)
    assert response.status_code in codes, (response.status_code, text[:400])
    for message in messages:
        assert message in text, f"{message!r} is not on the page"


@contextmanager
def nothing_changes():
    before = snapshot()
    yield
    assert snapshot() == before, "a refused request changed the database"


@pytest.fixture
def as_organizer(client, world):
    login_as(client, world.organizer)
    return client


@pytest.fixture
def as_admin(client, world):
    login_as(client, world.admin)
    return client


def new_event_form(**changes) -> dict:
    soon = date.today() + timedelta(days=60)
    data = {"title": "Second Retreat", "slug": "second-retreat", "kind": "workshop", "timezone": "UTC",
            "starts_on": soon.isoformat(), "ends_on": (soon + timedelta(days=1)).isoformat(), "capacity": "12",
            "organizers": "org@example.org"}
    data.update(changes)
    return data


# --- signing in ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("email", "message"), [
    ("not-an-email", "not valid"),
    ("ada@", "not valid"),
    ("", "Enter your email address."),
    ("a" * 250 + "@example.org", "longer than 254"),
])
def test_sign_in_with_a_bad_email_is_refused(client, world, email, message):
    """A malformed address can be refused outright: it reveals nothing about who has an account."""
    with nothing_changes():
        response = client.post("/auth/sign-in", data={"email": email})
    assert_refused(response, 400, message)


# --- empty forms --------------------------------------------------------------------------------

def blank(*names: str, **fixed: str) -> dict:
    """A form as a browser sends it when nothing was typed: every field present, every one empty."""
    return {**dict.fromkeys(names, ""), **fixed}


EVENT_FIELDS = ("title", "slug", "kind", "description", "venue", "timezone", "starts_on", "ends_on", "capacity")
EMPTY_FORMS = [
    ("anonymous", "/auth/sign-in", blank("email", "password"), "Enter your email address."),
    ("attendee", "/account", blank("name", "password", "confirm"), "Enter your name."),
    ("admin", "/admin/events/new", blank(*EVENT_FIELDS, "organizers"), "Give the event a title."),
    ("admin", "/admin/users", blank("email", "name"), "Enter an email address."),
    ("admin", "/e/retreat/manage/organizers", blank("email"), "Enter an email address."),
    ("organizer", "/e/retreat/manage/settings", blank(*EVENT_FIELDS, "status"), "Give the event a title."),
    ("organizer", "/e/retreat/manage/agreement", blank("text"), "The agreement cannot be empty."),
    ("organizer", "/e/retreat/manage/invites/new", blank("email", "name", "affiliation", "tags"),
     "Enter an email address."),
    ("organizer", "/e/retreat/manage/invites/bulk", blank("action"), "Choose an action from the list."),
    ("organizer", "/e/retreat/manage/invites/import", blank("text", stage="upload"),
     "Choose a CSV file or paste rows."),
    ("organizer", "/e/retreat/manage/invites/import", blank("text", stage="confirm", action="import"),
     "There is nothing to import."),
    ("unsigned", "/e/retreat/agreement", blank("typed_name"), "Type your full name."),
    ("attendee", "/e/retreat/nominate", blank("email", "name", "affiliation", "note"), "Enter their email address."),
]


@pytest.mark.parametrize(("role", "url", "data", "message"), EMPTY_FORMS)
def test_empty_form_is_refused(client, world, role, url, data, message):
    login_as(client, world.users[role])
    with nothing_changes():
        response = client.post(url, data=data)
    assert_refused(response, 400, message)


# --- overlong fields ----------------------------------------------------------------------------

LONG = "x" * 201
OVERLONG = [
    ("anonymous", "/auth/sign-in", {"email": "a" * 250 + "@example.org"}, "longer than 254"),
    ("attendee", "/account", {"name": LONG}, "longer than 200"),
    ("admin", "/admin/users", {"email": "new@example.org", "name": LONG}, "longer than 200"),
    ("admin", "/admin/events/new", new_event_form(title=LONG), "longer than 200"),
    ("organizer", "/e/retreat/manage/settings", {"slug": "s" * 61}, "longer than 60"),
    ("organizer", "/e/retreat/manage/settings", {"venue": LONG}, "longer than 200"),
    ("organizer", "/e/retreat/manage/agreement", {"text": "x" * 20001}, "longer than 20000"),
    ("organizer", "/e/retreat/manage/invites/new", {"email": "new@example.org", "name": LONG}, "longer than 200"),
    ("organizer", "/e/retreat/manage/invites/new", {"email": "new@example.org", "tags": "t," * 251},
     "longer than 500"),
    ("unsigned", "/e/retreat/agreement", {"typed_name": LONG, "agree": "y"}, "between 2 and 200"),
    ("attendee", "/e/retreat/nominate", {"email": "f@example.org", "name": "Fran", "note": "x" * 2001},
     "between 10 and 2000"),
]


@pytest.mark.parametrize(("role", "url", "data", "message"), OVERLONG)
def test_overlong_field_is_refused(client, world, role, url, data, message):
    if url.endswith("/settings"):
        data = event_form(world.event, **data)
    login_as(client, world.users[role])
    with nothing_changes():
        response = client.post(url, data=data)
    assert_refused(response, 400, message)


def test_overlong_private_notes_are_refused(as_organizer, world):
    candidate = make_candidate(world.event, "pat@example.org", name="Pat")
    with nothing_changes():
        response = as_organizer.post(f"/e/retreat/manage/invites/{candidate.id}",
                                     data={"name": "Pat", "notes": "n" * 10001})
    assert_refused(response, 400, "longer than 10000")


# --- the event form -----------------------------------------------------------------------------

today = date.today()
BAD_EVENT_FIELDS = [
    ({"starts_on": (today + timedelta(days=40)).isoformat(), "ends_on": (today + timedelta(days=39)).isoformat()},
     "The event cannot end before it starts."),
    ({"timezone": "Mars/Olympus_Mons"}, "Not a valid choice"),
    ({"capacity": "0"}, "Between 1 and 100,000 seats."),
    ({"capacity": "-3"}, "Between 1 and 100,000 seats."),
    ({"capacity": "lots"}, "Not a valid integer value."),
    ({"slug": "elsewhere"}, "Another event already uses this address."),
    ({"slug": "Bad Slug!"}, "Use lower-case letters, digits and hyphens."),
    ({"slug": "-edge-"}, "Use lower-case letters, digits and hyphens."),
    ({"slug": "admin"}, "That address is reserved"),
    ({"starts_on": "next tuesday"}, "Not a valid date value."),
    ({"kind": "party"}, "Not a valid choice"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_EVENT_FIELDS)
def test_new_event_with_a_bad_field_is_refused(as_admin, changes, message):
    with nothing_changes():
        response = as_admin.post("/admin/events/new", data=new_event_form(**changes))
    assert_refused(response, 400, message)


@pytest.mark.parametrize(("changes", "message"), [*BAD_EVENT_FIELDS, ({"status": "exploded"}, "Not a valid choice")])
def test_event_settings_with_a_bad_field_are_refused(as_organizer, world, changes, message):
    with nothing_changes():
        response = as_organizer.post("/e/retreat/manage/settings", data=event_form(world.event, **changes))
    assert_refused(response, 400, message)


def test_new_event_with_a_bad_organizer_email_is_refused(as_admin):
    with nothing_changes():
        response = as_admin.post("/admin/events/new",
                                 data=new_event_form(organizers="org@example.org, not-an-email"))
    assert_refused(response, 400, "not valid")


# --- adding and editing people ------------------------------------------------------------------


@pytest.mark.parametrize(("email", "message"), [
    ("not-an-email", "That email address is not valid."),
    ("attendee@example.org", "attendee@example.org is already on the invite list."),
    ("ATTENDEE@Example.org", "attendee@example.org is already on the invite list."),
])
def test_candidate_with_a_bad_or_duplicate_email_is_refused(as_organizer, email, message):
    with nothing_changes():
        response = as_organizer.post("/e/retreat/manage/invites/new", data={"email": email, "name": "Someone"})
    assert_refused(response, 400, message)


BAD_TAGS = [
    ("<script>alert(1)</script>", "is not a usable tag"),
    ("ml, a/b", "is not a usable tag"),
    ("#hash", "is not a usable tag"),
    ("t" * 41, "is not a usable tag"),
    (",".join(f"t{i}" for i in range(21)), "Twenty tags at most."),
]


@pytest.mark.parametrize(("tags", "message"), BAD_TAGS)
def test_new_candidate_with_forbidden_tags_is_refused(as_organizer, tags, message):
    with nothing_changes():
        response = as_organizer.post("/e/retreat/manage/invites/new",
                                     data={"email": "new@example.org", "tags": tags})
    assert_refused(response, 400, message)


@pytest.mark.parametrize(("tags", "message"), BAD_TAGS)
def test_edit_with_forbidden_tags_saves_nothing(as_organizer, world, tags, message):
    """The whole edit is refused: the name and notes sent with the bad tags are not saved either."""
    candidate = make_candidate(world.event, "pat@example.org", name="Pat")
    with nothing_changes():
        response = as_organizer.post(f"/e/retreat/manage/invites/{candidate.id}",
                                     data={"name": "Renamed", "notes": "new note", "tags": tags})
    assert_refused(response, 400, message)


# --- the invite list: filters, sorting, paging --------------------------------------------------


@pytest.mark.parametrize(("query", "messages"), [
    ("status=bogus", ["Unknown status filter."]),
    ("sort=password_hash", []),
    ("sort=%27%3B--", []),
    ("page=-5", []),
    ("page=0", []),
    ("page=abc", []),
])
def test_invite_list_with_bad_query_is_refused(as_organizer, world, query, messages):
    """An unknown filter, sort or page is a 400, not silently a different list than the one asked for."""
    make_candidate(world.event, "pat@example.org")
    with nothing_changes():
        response = as_organizer.get(f"/e/retreat/manage/invites/?{query}")
    assert_refused(response, 400, *messages)


def test_invite_list_handles_a_huge_page_number(as_organizer, world):
    make_candidate(world.event, "pat@example.org")
    response = as_organizer.get(f"/e/retreat/manage/invites/?page={BIG}")
    assert_refused(response, CLIENT_ERROR)


def test_audit_log_handles_a_huge_cursor(as_organizer):
    response = as_organizer.get(f"/e/retreat/manage/audit?before={BIG}")
    assert_refused(response, CLIENT_ERROR)


@pytest.mark.parametrize(("role", "method", "path"), [
    ("organizer", "GET", "/e/retreat/manage/invites/{big}"),
    ("organizer", "POST", "/e/retreat/manage/invites/{big}"),
    ("admin", "POST", "/e/retreat/manage/organizers/{big}/remove"),
    ("admin", "POST", "/admin/users/{big}/disable"),
])
def test_id_beyond_any_row_is_not_found(client, world, role, method, path):
    """An id too large for the database is just an id that matches nothing."""
    login_as(client, world.users[role])
    with nothing_changes():
        response = client.open(path.format(big=BIG), method=method, data={"name": "x"})
    assert_refused(response, 404)


# --- bulk actions -------------------------------------------------------------------------------


@pytest.fixture
def proposed(world):
    return make_candidate(world.event, "pat@example.org", name="Pat")


@pytest.mark.parametrize(("data", "messages"), [
    ({"action": "approve"}, ["Tick at least one person first"]),
    ({"action": "approve", "ids": ["abc"]}, ["The selection is not valid."]),
    ({"action": "approve", "ids": ["1.5"]}, ["The selection is not valid."]),
    ({"action": "approve", "ids": [str(BIG)]}, []),
    ({"action": "delete", "ids": ["1"]}, ["Choose an action from the list."]),
    ({"action": "", "ids": ["1"]}, ["Choose an action from the list."]),
    ({"action": "approve", "scope": "matching", "status": "bogus"}, ["Unknown status filter."]),
])
def test_bad_bulk_request_is_refused(as_organizer, proposed, data, messages):
    with nothing_changes():
        response = as_organizer.post("/e/retreat/manage/invites/bulk", data=data)
    assert_refused(response, CLIENT_ERROR, *messages)


@pytest.mark.parametrize("action", ["approve", "revoke"])
def test_bulk_ids_of_another_events_candidates_are_refused(as_organizer, world, action):
    """Ids from another event's list are not on this list: nothing there may be touched."""
    theirs = make_candidate(world.other_event, "theirs@example.org", name="Theo")
    with nothing_changes():
        response = as_organizer.post("/e/retreat/manage/invites/bulk", data={"action": action, "ids": [theirs.id]})
    assert_refused(response, CLIENT_ERROR)


def test_bulk_mixing_own_and_foreign_ids_touches_no_foreign_one(as_organizer, world, proposed):
    theirs = make_candidate(world.other_event, "theirs@example.org", name="Theo")
    as_organizer.post("/e/retreat/manage/invites/bulk", data={"action": "approve", "ids": [proposed.id, theirs.id]})
    db.session.refresh(theirs)
    assert theirs.status == S.PROPOSED


# --- CSV import ---------------------------------------------------------------------------------


def upload(client, content: bytes | None = None, text: str | None = None, filename: str = "people.csv"):
    data = {"stage": "upload"}
    if content is not None:
        data["file"] = (io.BytesIO(content), filename)
    if text is not None:
        data["text"] = text
    return client.post("/e/retreat/manage/invites/import", data=data, content_type="multipart/form-data")


@pytest.mark.parametrize(("csv_text", "messages"), [
    ("name,affiliation\nAda Lovelace,Engines\n", ["Line 1", "no column holds the email addresses"]),
    ("email,name\nada@example.org,Ada\nnot-an-email,Bad Row\n", ["Line 3:", "is not a valid email address"]),
    ("email\nada@example.org\nbob@example.org\nada@example.org\n", ["Line 4:", "also appears on line 2"]),
    ("email\nada@example.org\nattendee@example.org\n", ["Line 3:", "already on the invite list"]),
    ("email,name,affiliation\nada@example.org,Ada\n", ["Line 2:", "has 2 columns, the header has 3"]),
    ("email,tags\nada@example.org,<b>\n", ["Line 2:", "is not a usable tag"]),
    ("email,name\n", ["has a header but no people"]),
])
def test_import_preview_names_each_bad_line_and_imports_nothing(as_organizer, csv_text, messages):
    with nothing_changes():
        by_paste = upload(as_organizer, text=csv_text)
        by_file = upload(as_organizer, content=csv_text.encode())
    for response in (by_paste, by_file):
        assert_refused(response, 422, "Nothing has been imported.", *messages)


@pytest.mark.parametrize(("content", "message"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "not a text CSV file"),
    (b"\x81\x8d\x8f\x90\x9d\xff\xfe", "The file is not text."),
    (b"", "Choose a CSV file or paste rows."),
])
def test_import_of_a_binary_or_empty_file_is_refused(as_organizer, content, message):
    with nothing_changes():
        response = upload(as_organizer, content=content, filename="people.csv")
    assert_refused(response, CLIENT_ERROR, message)


def test_import_of_an_oversized_file_is_refused(as_organizer):
    with nothing_changes():
        response = upload(as_organizer, content=b"email\n" + b"a" * 2_000_001)
    assert_refused(response, 413, "larger than 2 MB")


def test_confirming_an_import_that_still_has_bad_rows_imports_nothing(as_organizer):
    """The confirm step checks again: a tampered or edited text is not trusted because it was previewed."""
    with nothing_changes():
        response = as_organizer.post("/e/retreat/manage/invites/import", data={
            "stage": "confirm", "action": "import", "text": "email\nada@example.org\nnot-an-email\n"})
    assert_refused(response, 422, "nothing was imported", "Line 3:")


# --- the agreement ------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "message"), [
    ({"typed_name": "", "agree": "y"}, "Type your full name."),
    ({"typed_name": "     ", "agree": "y"}, "Type your full name."),
    ({"typed_name": " U ", "agree": "y"}, "Type your full name to sign."),
    ({"typed_name": "Una Unsigned"}, "Tick the box to accept."),
])
def test_agreement_is_not_signed_without_a_name_and_the_box(client, world, data, message):
    login_as(client, world.unsigned)
    with nothing_changes():
        response = client.post("/e/retreat/agreement", data=data)
    assert_refused(response, 400, message)
    assert client.get("/e/retreat/people").headers["Location"] == "/e/retreat/agreement?next=/e/retreat/people"


def test_signing_the_same_version_twice_records_one_signature(client, world):
    login_as(client, world.attendee)
    with nothing_changes():
        response = client.post("/e/retreat/agreement", data={"typed_name": "Attendee Again", "agree": "y"})
    assert "You have already signed this version." in text_of(response)


# --- nominations --------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "message"), [
    ({"note": "great"}, "between 10 and 2000"),
    ({"note": "          ok"}, "Say in a sentence why you vouch for them."),
    ({"email": "not-an-email"}, "That email address is not valid."),
    ({"name": ""}, "Enter their name."),
    ({"email": "attendee@example.org"}, "You cannot nominate yourself."),
])
def test_nomination_with_bad_fields_is_refused(client, world, data, message):
    login_as(client, world.attendee)
    form = {"email": "fran@example.org", "name": "Fran Friend", "note": "I have known their careful work for years."}
    with nothing_changes():
        response = client.post("/e/retreat/nominate", data={**form, **data})
    assert_refused(response, 400, message)


# --- invitation links ---------------------------------------------------------------------------


def invite(world, email: str = "ivy@example.org") -> tuple[Candidate, str]:
    candidate = make_candidate(world.event, email, S.APPROVED)
    invites.send_wave(world.organizer, world.event, [candidate])
    db.session.commit()
    return candidate, link_token(email, "/invitation/")


def test_unknown_invitation_link_is_refused(client, world):
    invite(world)  # a live invitation exists; a made-up token must still not find it
    with nothing_changes():
        shown = client.get(open_link(client, "/invitation/made-up-token"))
        answered = client.post(open_link(client, "/invitation/made-up-token"), data={"answer": "accept"})
    for response in (shown, answered):
        assert_refused(response, 410, "This invitation link is not valid.")


def test_used_invitation_link_is_refused(client, world):
    candidate, token = invite(world)
    assert client.post(open_link(client, f"/invitation/{token}"), data={"answer": "accept"}).status_code == 302
    login_as(client, None)
    with nothing_changes():
        shown = client.get(open_link(client, f"/invitation/{token}"))
        answered = client.post(open_link(client, f"/invitation/{token}"), data={"answer": "decline"})
    for response in (shown, answered):
        assert_refused(response, 410, "This invitation link is not valid.")
    db.session.refresh(candidate)
    assert candidate.status == S.ACCEPTED


def test_invitation_link_superseded_by_a_reminder_is_refused(client, world):
    candidate, old_token = invite(world)
    invites.remind(world.organizer, world.event, [candidate])
    db.session.commit()
    new_token = link_token(candidate.email, "/invitation/")
    assert new_token != old_token
    with nothing_changes():
        shown = client.get(open_link(client, f"/invitation/{old_token}"))
        answered = client.post(open_link(client, f"/invitation/{old_token}"), data={"answer": "accept"})
    for response in (shown, answered):
        assert_refused(response, 410, "replaced by a newer email")
    assert client.get(open_link(client, f"/invitation/{new_token}")).status_code == 200


def test_expired_invitation_link_is_refused(client, world):
    candidate, token = invite(world)
    past = utcnow() - timedelta(minutes=1)
    db.session.execute(sa.update(Invitation).values(expires_at=past))
    candidate.invite_expires_at = past
    db.session.commit()
    response = client.post(open_link(client, f"/invitation/{token}"), data={"answer": "accept"})
    assert_refused(response, 410, "This invitation has expired.")
    db.session.refresh(candidate)
    assert (candidate.status, candidate.user_id) == (S.EXPIRED, None)


@pytest.mark.parametrize("answer", ["", "maybe", "ACCEPT"])
def test_invitation_answer_must_be_accept_or_decline(client, world, answer):
    _, token = invite(world)
    with nothing_changes():
        response = client.post(open_link(client, f"/invitation/{token}"), data={"answer": answer})
    assert_refused(response, 400, "Choose to accept or decline.")


# --- sign-in links ------------------------------------------------------------------------------


def sign_in_link(world) -> str:
    accounts.request_sign_in(world.stranger.email)
    db.session.commit()
    return link_token(world.stranger.email, "/auth/link/")


def assert_link_refused(client, token: str) -> None:
    with nothing_changes():
        shown = client.get(open_link(client, f"/auth/link/{token}"))
        used = client.post(open_link(client, f"/auth/link/{token}"))
    for response in (shown, used):
        assert_refused(response, 410, "This sign-in link is not valid any more.")
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_unknown_sign_in_link_is_refused(client, world):
    sign_in_link(world)
    assert_link_refused(client, "made-up-token")


def test_used_sign_in_link_is_refused(client, world):
    token = sign_in_link(world)
    assert client.post(open_link(client, f"/auth/link/{token}")).status_code == 302
    login_as(client, None)
    assert_link_refused(client, token)


def test_expired_sign_in_link_is_refused(client, world):
    token = sign_in_link(world)
    db.session.execute(sa.update(LoginToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert_link_refused(client, token)


# --- proposals ----------------------------------------------------------------------------------


@pytest.fixture
def scene(world, tmp_path, monkeypatch) -> Scene:
    keep_materials_in(monkeypatch, tmp_path / "materials")
    return build_scene(world)


BAD_TALK_FIELDS = [
    ({"title": ""}, "Give the talk a title."),
    ({"title": "   "}, "Give the talk a title"),
    ({"duration_minutes": "0"}, "From 5 to 240 minutes."),
    ({"duration_minutes": "1000"}, "From 5 to 240 minutes."),
    ({"duration_minutes": ""}, "Say how long it lasts."),
    ({"tier": "secret"}, "Not a valid choice"),
    ({"kind": "keynote"}, "Not a valid choice"),
    ({"cospeakers": "stranger@example.org"}, "Not attendees of this event: stranger@example.org."),
    ({"cospeakers": "org@example.org"}, "Not attendees of this event: org@example.org."),
    ({"cospeakers": f"{COSPEAKER_EMAIL}, theirs@example.org"}, "Not attendees of this event: theirs@example.org."),
    ({"cospeakers": "not-an-email"}, "That email address is not valid"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_TALK_FIELDS)
def test_new_talk_with_a_bad_field_is_refused(client, scene, changes, message):
    assert scene.cospeaker.email == COSPEAKER_EMAIL  # an attendee: a list naming them refuses only the others
    login_as(client, scene.world.attendee)
    with nothing_changes():
        response = client.post("/e/retreat/proposals/new", data=talk_form(**changes))
    assert_refused(response, 400, message)


# The edit page offers no tier (it changes only on the tier page, where the change is recorded).
EDIT_FIELDS = [(changes, message) for changes, message in BAD_TALK_FIELDS if "tier" not in changes]


@pytest.mark.parametrize(("changes", "message"), EDIT_FIELDS)
def test_talk_edit_with_a_bad_field_saves_nothing(client, scene, changes, message):
    """The whole edit is refused: the new title sent with the bad field is not saved either."""
    talk = scene.talk
    login_as(client, scene.speaker)
    form = talk_form(**{"title": "Renamed Anyway", "cospeakers": COSPEAKER_EMAIL, **changes})
    with nothing_changes():
        response = client.post(f"/e/retreat/proposals/{talk.public_id}/edit", data=form)
    assert_refused(response, 400, message)


@pytest.mark.parametrize("tier", ["public", "secret"])
def test_talk_edit_never_changes_the_tier_nor_fails_silently(client, scene, tier):
    """A tier sent with an edit (the page has no such field) is either ignored, the rest being saved,
    or refused with a reason the person can read; the tier itself stays as it was."""
    talk = scene.talk
    login_as(client, scene.speaker)
    before = snapshot()
    response = client.post(f"/e/retreat/proposals/{talk.public_id}/edit",
                           data=talk_form(title="Renamed Anyway", cospeakers=COSPEAKER_EMAIL, tier=tier))
    db.session.refresh(talk)
    assert (talk.tier, talk.release_tier) == (Tier.ATTENDEES, None)
    if response.status_code == 302:
        assert talk.title == "Renamed Anyway"
    else:
        assert_refused(response, 400, "Not a valid choice")
        assert snapshot() == before


def local_minute(delta: timedelta) -> str:
    """A time in the event's zone (UTC), as the tier form's field sends it."""
    return (utcnow() + delta).strftime("%Y-%m-%dT%H:%M")


BAD_TIER_CHANGES = [
    ("speaker", {"tier": "restricted", "release_tier": "attendees", "release_at": local_minute(-timedelta(days=1))},
     "Schedule the release in the future, or change the tier now."),
    ("speaker", {"tier": "attendees", "release_tier": "restricted", "release_at": local_minute(timedelta(days=7))},
     "A release opens the talk to a wider tier than it has now."),
    ("speaker", {"tier": "session", "release_tier": "session", "release_at": local_minute(timedelta(days=7))},
     "A release opens the talk to a wider tier than it has now."),
    ("speaker", {"tier": "restricted", "release_tier": "public"}, "A scheduled release needs both a tier and a date."),
    ("speaker", {"tier": "restricted", "release_tier": "public", "release_at": "next week"},
     "Not a valid datetime value."),
    ("speaker", {"tier": "secret"}, "Not a valid choice"),
    ("speaker", {"tier": "attendees", "release_tier": "everyone"}, "Not a valid choice"),
    # An organizer's widening is no bad input (it waits for the speakers' consent); a release in the past is.
    ("organizer", {"tier": "attendees", "release_tier": "public", "release_at": local_minute(-timedelta(days=1))},
     "Schedule the release in the future, or change the tier now."),
    ("organizer", {"tier": "attendees"}, "The talk already has this tier."),
]


@pytest.mark.parametrize(("person", "form", "message"), BAD_TIER_CHANGES)
def test_bad_tier_change_is_refused(client, scene, person, form, message):
    talk = scene.talk
    login_as(client, scene.user(person))
    with nothing_changes():
        response = client.post(f"/e/retreat/proposals/{talk.public_id}/tier", data=form)
    assert_refused(response, 400, message)


BAD_ACCESS = [
    ({"excluded": "not_a_domain"}, "“not_a_domain” is neither an email address nor a domain."),
    ({"excluded": "-lab.example"}, "“-lab.example” is neither an email address nor a domain."),
    # The address before the bad entry names someone without an account: none may be left behind.
    ({"excluded": "rival@elsewhere.org lab..example"}, "“lab..example” is neither an email address nor a domain."),
    ({"excluded": "speaker@example.org"}, "A speaker cannot be excluded from their own talk."),
    ({"named": "stranger@example.org"}, "Not attendees of this event: stranger@example.org."),
    ({"named": "not-an-email"}, "That email address is not valid"),
]


@pytest.mark.parametrize(("form", "message"), BAD_ACCESS)
def test_bad_access_list_is_refused_and_the_old_one_stays(client, scene, form, message):
    talk = scene.talk
    proposals.set_access(scene.speaker, talk, "attendee@example.org", "rival.example")
    db.session.commit()
    login_as(client, scene.speaker)
    with nothing_changes():
        response = client.post(f"/e/retreat/proposals/{talk.public_id}/access", data=form)
    assert_refused(response, 400, message)


@pytest.mark.parametrize(("email", "message"), [
    ("nobody@example.org", "No attendee has that address."),
    ("stranger@example.org", "stranger@example.org is not an attendee of this event."),
    ("not-an-email", "That email address is not valid."),
])
def test_attendance_of_someone_who_is_no_attendee_is_refused(as_organizer, scene, email, message):
    talk = scene.talk
    with nothing_changes():
        response = as_organizer.post(f"/e/retreat/proposals/{talk.public_id}/attendance", data={"email": email})
    assert_refused(response, 400, message)


# --- materials ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "status", "message"), [
    ({}, 400, "Choose a file to upload."),
    ({"file": (io.BytesIO(b""), "slides.pdf")}, 422, "The file is empty."),
])
def test_upload_without_content_is_refused(client, scene, tmp_path, data, status, message):
    material = scene.material  # one file is there already: it must stay the only one
    files = stored_files(tmp_path / "materials")
    assert len(files) == 1
    login_as(client, scene.speaker)
    with nothing_changes():
        response = client.post(f"/e/retreat/proposals/{material.proposal.public_id}/materials", data=data,
                               content_type="multipart/form-data")
    assert_refused(response, status, message)
    assert stored_files(tmp_path / "materials") == files
