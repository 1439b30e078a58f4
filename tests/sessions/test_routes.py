"""The schedule page, the agenda, sign-up and cancel, the organizers' check-in list, the projector, and the
room-code check-in, each requested as the people who may and may not use them."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import Programme, login_as, make_event, make_participant, make_talk, make_user
from workshop import mail, policy
from workshop.extensions import db
from workshop.models import Attendance, SignUp, Tier, utcnow
from workshop.services import proposals, schedule, signups


def page(response) -> str:
    return response.get_data(as_text=True)


def seats(proposal) -> dict[int, str]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(SignUp.user_id, SignUp.status).where(SignUp.proposal_id == proposal.id))
    return dict(rows.all())


def attended(proposal) -> dict[int, str]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Attendance.user_id, Attendance.source)
                              .where(Attendance.proposal_id == proposal.id))
    return dict(rows.all())


@pytest.fixture
def people(programme: Programme) -> dict:
    admin = make_user("admin@example.org", "Ada Admin", admin=True)
    other_organizer = make_user("other-org@example.org")
    make_event("elsewhere", organizers=[other_organizer])
    return {"anonymous": None, "stranger": programme.stranger, "unsigned": programme.unsigned,
            "attendee": programme.a, "other_organizer": other_organizer, "organizer": programme.organizer,
            "admin": admin, "speaker": programme.speaker, "named": programme.named}


# --- who may open which page ----------------------------------------------------------------

SCHEDULE = {"anonymous": 404, "stranger": 404, "unsigned": 403, "attendee": 200, "other_organizer": 404,
            "organizer": 200, "admin": 200, "speaker": 200}


@pytest.mark.parametrize("role", sorted(SCHEDULE))
@pytest.mark.parametrize("path", ["schedule", "agenda"])
def test_schedule_and_agenda_by_role(client, programme, people, role, path):
    login_as(client, people[role])
    assert client.get(f"/e/retreat/{path}").status_code == SCHEDULE[role]


PROJECTOR = {"anonymous": 404, "stranger": 404, "unsigned": 404, "attendee": 403, "other_organizer": 404,
             "organizer": 200, "admin": 200, "speaker": 403}


@pytest.mark.parametrize("role", sorted(PROJECTOR))
@pytest.mark.parametrize("action", ["projector", "checkin"])
def test_projector_and_checkin_list_are_for_organizers(client, programme, people, role, action):
    login_as(client, people[role])
    response = client.get(programme.url(programme.small, action))
    assert response.status_code == PROJECTOR[role]
    projector = programme.url(programme.small, "projector")
    shown = projector in page(response) if action == "checkin" else bool(codes_shown(programme.small, response))
    assert shown == (PROJECTOR[role] == 200)


def codes_shown(proposal, response) -> set[str]:
    """The proposal's codes of this minute and the one before that the page shows: the minute may have
    turned while it was built."""
    now = utcnow()
    codes = {signups.room_code(proposal, now), signups.room_code(proposal, now - timedelta(seconds=30))}
    return {code for code in codes if code in page(response)}


def test_the_projector_shows_title_room_time_code_and_its_qr_code(client, programme):
    login_as(client, programme.organizer)
    response = client.get(programme.url(programme.small, "projector"))
    html = page(response)
    assert "Sparse probes for deceptive circuits" in html
    assert "Library" in html and "09:00–09:50" in html  # Berlin time
    [code] = codes_shown(programme.small, response)
    assert f'<p class="projector-code" aria-label="Room code {" ".join(code)}">' in html
    assert "http://localhost/e/retreat/agenda" in html

    # The QR code opens the check-in page with this minute's code, at the public address (BASE_URL).
    assert f'href="http://conclave.test/e/retreat/checkin?code={code}"' in html
    qr = re.search(r'<img src="(/e/retreat/proposals/[\w-]+/projector/qr\.svg\?minute=\d+)"', html).group(1)
    svg = client.get(qr)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.headers["Cache-Control"] == "private, no-store"
    assert svg.data.startswith(b"<svg") and b"<script" not in svg.data
    # It reloads itself when the code changes, by the server's clock, with a static script (no inline one).
    refresh = int(re.search(r'data-refresh-in="(\d+)"', html).group(1))
    assert 1 <= refresh <= 60
    assert '<script src="/static/projector.js" defer></script>' in html and "<script>" not in html


def test_a_session_over_two_slots_shows_its_real_end_on_the_projector_and_the_check_in_list(client, programme):
    """The hall talk moves to two afternoon slots back to back (14:00–14:50 and 14:50–15:40): the room is
    its room until 15:40, and check-in stays open until then."""
    afternoon = schedule.add_slots(programme.organizer, programme.event, programme.event.starts_on,
                                   [time(14, 0), time(14, 50)], 50)  # the event's local times
    db.session.commit()
    schedule.place(programme.organizer, programme.hall_talk, programme.hall.id, afternoon[0].id, span=2,
                   confirmed=True)
    db.session.commit()
    programme.publish()
    login_as(client, programme.organizer)
    projector = page(client.get(programme.url(programme.hall_talk, "projector")))
    assert "14:00–15:40" in projector and "until 15:40" in projector
    assert "14:50" not in projector
    checkin = page(client.get(programme.url(programme.hall_talk, "checkin")))
    assert "–15:40" in checkin and "–14:50" not in checkin


def test_the_qr_code_is_for_organizers_only(client, programme, people):
    login_as(client, programme.organizer)
    qr = programme.url(programme.small, "projector/qr.svg")
    assert client.get(qr).status_code == 200
    for role, status in (("attendee", 403), ("speaker", 403), ("stranger", 404), ("anonymous", 404)):
        login_as(client, people[role])
        assert client.get(qr).status_code == status, role


def test_a_session_off_the_schedule_has_no_projector(client, programme):
    unplaced = make_talk(programme.event, programme.speaker, "Not placed")
    login_as(client, programme.organizer)
    assert client.get(programme.url(unplaced, "projector")).status_code == 403
    assert client.get(programme.url(unplaced, "checkin")).status_code == 403


# --- the schedule page --------------------------------------------------------------------


def test_empty_schedule_says_so(client, ctx):
    organizer = make_user("org@example.org")
    make_event("quiet", organizers=[organizer])
    login_as(client, organizer)
    html = page(client.get("/e/quiet/schedule"))
    assert "The organizers have not published the schedule yet" in html
    assert "Build the schedule" in html


def test_schedule_grid_shows_sessions_in_the_event_time_zone(client, programme):
    login_as(client, programme.a)
    html = page(client.get("/e/retreat/schedule"))
    day = programme.event.starts_on
    assert day.strftime("%A %-d %B") in html
    assert "Times in Europe/Berlin" in html
    assert ">09:00</time>" in html and ">10:00</time>" in html
    assert html.index(">09:00</time>") < html.index(">10:00</time>")
    for text in ("Sparse probes for deceptive circuits", "Evaluations that bite", "Quentin Quillfeather",
                 "Library", "Great Hall", 'class="tier tier-session"', 'class="tier tier-attendees"'):
        assert text in html
    assert f"/e/retreat/proposals/{programme.small.public_id}" in html
    assert html.count(">Sign up</button>") == 2  # the two sessions this attendee may see


def test_restricted_session_is_only_a_placeholder_for_outsiders(client, programme):
    hidden = make_participant(programme.event, "xavier@example.org")
    hidden.name = "Xavier Hiddenworth"
    talk = make_talk(programme.event, hidden, "Unreleased jailbreak corpus", Tier.RESTRICTED)
    programme.place(talk, programme.hall, programme.slots[1])
    programme.publish()
    login_as(client, programme.a)
    html = page(client.get("/e/retreat/schedule"))

    assert html.count("Closed session") == 2
    assert "Xavier" not in html and "Hiddenworth" not in html and "jailbreak" not in html
    assert talk.public_id not in html
    assert "Zanzibar" not in html and "exfiltration" not in html
    assert programme.secret.public_id not in html
    assert "restricted" not in html  # not even its tier
    # Its speaker speaks in other sessions too, so the name appears exactly as often as those sessions do.
    assert html.count("Quentin Quillfeather") == 2
    # Room and time of the placeholder: the Library row at 10:00.
    closed = re.findall(r'<div class="session session-closed">\s*<p class="session-room">(.*?)</p>', html)
    assert sorted(closed) == ["Great Hall", "Library"]


def test_restricted_session_shows_in_full_to_the_named_and_organizers(client, programme):
    for user in (programme.named, programme.organizer):
        login_as(client, user)
        html = page(client.get("/e/retreat/schedule"))
        assert "Zanzibar weight exfiltration" in html
        assert "Closed session" not in html


def test_organizers_see_the_release_and_the_editor_link(client, programme):
    login_as(client, programme.organizer)
    html = page(client.get("/e/retreat/schedule"))
    assert "Release 1" in html
    assert "Edit the schedule" in html
    assert "Sign up" not in html  # organizers run sessions; they do not take seats
    assert programme.url(programme.small, "checkin") in html
    login_as(client, programme.a)
    html = page(client.get("/e/retreat/schedule"))
    assert "Release 1" not in html and "Edit the schedule" not in html
    assert programme.url(programme.small, "checkin") not in html


def test_schedule_shows_each_persons_seat(client, programme):
    a0, a1, a2 = programme.attendees
    for person in (a0, a1, a2):
        signups.sign_up(person, programme.small)
    db.session.commit()
    policy.forget_memo()

    login_as(client, a0)
    assert "You have a seat" in page(client.get("/e/retreat/schedule"))
    login_as(client, a2)
    html = page(client.get("/e/retreat/schedule"))
    assert "Waitlist: number 1" in html and "Leave the waitlist" in html
    login_as(client, programme.named)
    assert "Join the waitlist" in page(client.get("/e/retreat/schedule"))
    login_as(client, programme.speaker)
    html = page(client.get("/e/retreat/schedule"))
    assert "You are speaking" in html and "Sign up" not in html


# --- signing up and cancelling through the routes -----------------------------------------


def test_sign_up_and_cancel_through_the_routes(client, programme, sent):
    a0, a1, a2 = programme.attendees
    for person in (a0, a1, a2):
        login_as(client, person)
        response = client.post(programme.url(programme.small, "signup"), data={"next": "/e/retreat/agenda"})
        assert response.status_code == 302 and response.headers["Location"] == "/e/retreat/agenda"
    assert seats(programme.small) == {a0.id: "confirmed", a1.id: "confirmed", a2.id: "waitlisted"}

    login_as(client, a0)
    response = client.post(programme.url(programme.small, "cancel"), data={"next": "https://evil.example/"})
    assert response.status_code == 302 and response.headers["Location"] == "/e/retreat/schedule"
    assert seats(programme.small) == {a1.id: "confirmed", a2.id: "confirmed"}
    [message] = sent.to(a2.email)
    assert "A seat opened for you" in message["Subject"]


def test_signing_up_twice_through_the_route_says_so(client, programme):
    login_as(client, programme.a)
    client.post(programme.url(programme.hall_talk, "signup"))
    response = client.post(programme.url(programme.hall_talk, "signup"), follow_redirects=True)
    assert "You have a seat in this session already" in page(response)
    assert seats(programme.hall_talk) == {programme.a.id: "confirmed"}


@pytest.mark.parametrize("action", ["signup", "cancel"])
def test_a_session_one_may_not_see_is_not_found(client, programme, action):
    for user in (programme.a, programme.stranger, programme.unsigned, None):
        login_as(client, user)
        assert client.post(programme.url(programme.secret, action)).status_code == 404
    assert seats(programme.secret) == {}


def test_sign_up_refused_to_speakers_and_for_unreleased_talks(client, programme):
    unplaced = make_talk(programme.event, programme.speaker, "Not placed")
    login_as(client, programme.speaker)
    response = client.post(programme.url(programme.small, "signup"))
    assert response.status_code == 403 and "You are speaking in this session" in page(response)
    login_as(client, programme.a)
    response = client.post(programme.url(unplaced, "signup"))
    assert response.status_code == 403 and "not on the published schedule" in page(response)
    assert seats(programme.small) == {} and seats(unplaced) == {}


# --- the agenda ---------------------------------------------------------------------------


def test_agenda_lists_my_sessions_in_time_order_with_the_waitlist_place(client, programme):
    a0, a1, a2 = programme.attendees
    signups.sign_up(a0, programme.small)
    signups.sign_up(a1, programme.small)
    signups.sign_up(programme.named, programme.secret)
    signups.sign_up(programme.named, programme.small)
    signups.sign_up(programme.named, programme.hall_talk)
    db.session.commit()

    login_as(client, programme.named)
    html = page(client.get("/e/retreat/agenda"))
    titles = re.findall(r'<h3 class="session-title"><a [^>]*>(.*?)</a>', html)
    assert titles[2] == "Zanzibar weight exfiltration"  # 10:00, after the two 09:00 sessions
    assert set(titles[:2]) == {"Sparse probes for deceptive circuits", "Evaluations that bite"}
    assert "Waitlist: number 1" in html
    assert 'href="/e/retreat/calendar"' in html
    assert 'for="code"' in html and 'name="code"' in html

    login_as(client, a2)
    html = page(client.get("/e/retreat/agenda"))
    assert "You have not signed up for any session yet" in html


def test_a_session_closed_after_signing_up_leaves_no_trace_on_the_agenda(client, programme):
    signups.sign_up(programme.a, programme.hall_talk)
    db.session.commit()
    proposals.change_tier(programme.organizer, programme.hall_talk, Tier.RESTRICTED)
    db.session.commit()

    login_as(client, programme.a)
    for path in ("agenda", "schedule"):
        html = page(client.get(f"/e/retreat/{path}"))
        assert "Evaluations that bite" not in html and programme.hall_talk.public_id not in html
    assert "You have not signed up for any session yet" in page(client.get("/e/retreat/agenda"))


def test_agenda_keeps_signups_for_sessions_taken_off_the_schedule(client, programme):
    signups.sign_up(programme.a, programme.hall_talk)
    db.session.commit()
    schedule.unplace(programme.organizer, programme.hall_talk, confirmed=True)
    programme.publish()

    login_as(client, programme.a)
    html = page(client.get("/e/retreat/agenda"))
    assert "No longer on the schedule" in html and "Evaluations that bite" in html


# --- check-in through the routes ----------------------------------------------------------


@pytest.fixture
def live(ctx) -> Programme:
    """A programme whose first session is under way right now (real time: the routes read the clock)."""
    now = utcnow()
    programme = Programme("live", starts_on=date.today() - timedelta(days=1))
    programme.event.timezone = "UTC"
    db.session.commit()
    start = (now - timedelta(minutes=5)).replace(second=0, microsecond=0)
    [slot] = schedule.add_slots(programme.organizer, programme.event, start.date(), [start.time()], 60)
    db.session.commit()
    programme.place(programme.small, programme.small_room, slot)
    programme.publish()
    return programme


def test_room_code_check_in_through_the_route(client, live):
    code = signups.room_code(live.small)
    login_as(client, live.a)
    response = client.post("/e/live/checkin", data={"code": code.lower()})
    assert response.status_code == 302 and response.headers["Location"] == "/e/live/agenda"
    assert attended(live.small) == {live.a.id: "checkin"}
    html = page(client.get("/e/live/agenda"))
    assert "You are checked in to “Sparse probes for deceptive circuits”." in html


def test_room_code_check_in_refusals_show_beside_the_field(client, live):
    login_as(client, live.a)
    response = client.post("/e/live/checkin", data={"code": "ACDEFG"})
    assert response.status_code == 400
    assert re.search(r'<p class="error" id="code-err">The code is wrong', page(response))
    response = client.post("/e/live/checkin", data={"code": ""})
    assert response.status_code == 400 and "Type the code shown in the room." in page(response)
    # The hall talk was yesterday morning.
    response = client.post("/e/live/checkin", data={"code": signups.room_code(live.hall_talk)})
    assert response.status_code == 400 and "This session is over" in page(response)
    assert attended(live.small) == {} and attended(live.hall_talk) == {}


def test_room_code_check_in_is_for_attendees_who_signed(client, live):
    code = signups.room_code(live.small)
    for user, status in ((None, 302), (live.stranger, 404), (live.unsigned, 403)):
        login_as(client, user)
        response = client.post("/e/live/checkin", data={"code": code})
        assert response.status_code == status
    assert response.status_code == 403
    assert attended(live.small) == {}


def test_the_qr_link_opens_the_check_in_page_with_the_code_filled_in(client, live):
    """Scanning the projector's QR code opens the page with the code in the form; only the POST checks in."""
    code = signups.room_code(live.small)
    login_as(client, None)
    signed_out = client.get(f"/e/live/checkin?code={code}")
    assert signed_out.status_code == 302 and "/auth/sign-in" in signed_out.headers["Location"]
    login_as(client, live.a)
    response = client.get(f"/e/live/checkin?code={code}")
    assert response.status_code == 200
    assert re.search(rf'<input[^>]*name="code"[^>]*value="{code}"', page(response))
    assert attended(live.small) == {}
    assert client.post("/e/live/checkin", data={"code": code}).status_code == 302
    assert attended(live.small) == {live.a.id: "checkin"}
    # Whatever the link carries is only text in a field.
    odd = client.get('/e/live/checkin?code="><script>x</script>' + "A" * 50)
    assert odd.status_code == 200 and "<script>x" not in page(odd)


def test_organizer_ticks_people_from_the_list(client, programme):
    a0, a1, a2 = programme.attendees
    signups.sign_up(a1, programme.small)
    db.session.commit()
    login_as(client, programme.organizer)
    url = programme.url(programme.small, "checkin")

    html = page(client.get(url))
    # Signed-up people first, then every other attendee, each with a tick button.
    assert html.index("a1@example.org") < html.index("a0@example.org")
    assert f'name="user" value="{a0.id}"' in html and f'name="user" value="{a2.id}"' in html
    assert "stranger@example.org" not in html

    assert client.post(url, data={"user": str(a1.id)}).status_code == 302
    assert client.post(url, data={"email": "A0@example.org"}).status_code == 302
    assert attended(programme.small) == {a1.id: "organizer", a0.id: "organizer"}
    html = page(client.get(url))
    assert html.count("✓ ticked") == 2 and "<strong>2</strong> checked in" in html

    assert client.post(url, data={"remove": str(a0.id)}).status_code == 302
    assert attended(programme.small) == {a1.id: "organizer"}


def test_organizer_check_in_errors(client, programme):
    login_as(client, programme.organizer)
    url = programme.url(programme.small, "checkin")
    response = client.post(url, data={"email": "stranger@example.org"})
    assert response.status_code == 400
    assert re.search(r'<p class="error" id="email-err">stranger@example.org is not an attendee', page(response))
    response = client.post(url, data={"email": "nobody@example.org"})
    assert response.status_code == 400 and "No attendee has that address." in page(response)
    assert client.post(url, data={"email": "not an address"}).status_code == 400
    assert client.post(url, data={"user": "99999"}).status_code == 409
    assert client.post(url, data={"user": "x"}).status_code == 409
    assert attended(programme.small) == {}


def test_check_in_list_refuses_attendees(client, programme):
    login_as(client, programme.a)
    response = client.post(programme.url(programme.small, "checkin"), data={"user": str(programme.a.id)})
    assert response.status_code == 403
    assert attended(programme.small) == {}


def test_promotion_email_goes_out_when_the_request_ends(client, programme, sent):
    """The route commits and the outbox delivers: the promoted person hears at once."""
    a0, a1, a2 = programme.attendees
    for person in (a0, a1, a2):
        signups.sign_up(person, programme.small)
    db.session.commit()
    login_as(client, a1)
    client.post(programme.url(programme.small, "cancel"))
    assert [m["To"] for m in sent.refresh()] == [a2.email]
    assert mail.send_due()["sent"] == 0  # nothing left behind in the outbox


def test_tier_badge_on_the_schedule_follows_a_scheduled_release(client, programme):
    programme.hall_talk.release_tier = Tier.PUBLIC
    programme.hall_talk.release_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    login_as(client, programme.a)
    assert 'class="tier tier-public"' in page(client.get("/e/retreat/schedule"))
