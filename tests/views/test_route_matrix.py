"""Every route, requested as every role, against one table of expected answers.

The table is the product's access rules written down once. A route added without a row
fails ``test_every_route_has_a_row``, so no page ships without someone deciding who sees it.
Denials follow one rule: 404 when the person may not know the object exists, 403 when they
know it and the action is forbidden; pages that need only a signed-in person send anonymous
visitors to the sign-in page. A talk's own people (its speaker, an invited co-speaker) hold none
of the roles; their answers are in a second table, so that every action refused to the roles is
also shown to work for someone. Every POST route is also tried without its CSRF token (at the end).
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import url_for

from tests.helpers import (
    COSPEAKER_EMAIL,
    ROLES,
    TALK_PEOPLE,
    Scene,
    blank_png,
    build_scene,
    denial_page,
    event_form,
    keep_materials_in,
    login_as,
    make_candidate,
    make_participant,
    open_link,
    pdf_bytes,
    proposed_and_accepted,
    snapshot,
    talk_form,
    upload_pdf,
)
from workshop import calendar
from workshop.extensions import db
from workshop.models import (
    Candidate,
    CandidateStatus,
    EventMessage,
    InviteWave,
    Material,
    MaterialAccess,
    MessageStatus,
    OutboxMessage,
    PageView,
    Proposal,
    ProposalStatus,
    Tier,
    User,
    public_id,
    utcnow,
)
from workshop.services import api_tokens, invites, messages, proposals, reader, signups
from workshop.services.tokens import new_token

LOGIN = "sign-in"  # 302 to /auth/sign-in: the page exists for anyone who signs in
# 302 to the event's agreement, with the page asked for as where to go next: the accepted person who has not
# signed the current version is led there (and back) from any page past the landing page, never refused.
AGREEMENT = "agreement"


def by_role(anonymous, stranger, unsigned, attendee, other_organizer, organizer, admin) -> dict:
    return dict(zip(ROLES, (anonymous, stranger, unsigned, attendee, other_organizer, organizer, admin)))


def everyone(status) -> dict:
    return by_role(*[status] * len(ROLES))


# Instance administration: invisible (404) to everyone but admins, anonymous included.
ADMIN_PAGE = by_role(404, 404, 404, 404, 404, 404, 200)
ADMIN_ACTION = by_role(404, 404, 404, 404, 404, 404, 302)
# Organizers' pages: people who may not know the event get 404; participants know it, so 403.
MANAGE_PAGE = by_role(404, 404, 403, 403, 404, 200, 200)
MANAGE_ACTION = by_role(404, 404, 403, 403, 404, 302, 302)
# Past the landing page: the signed agreement is needed (the accepted, unsigned person is led to it).
CONTENT_PAGE = by_role(404, 404, AGREEMENT, 200, 404, 200, 200)
# Signed-in pages that concern only the person themself.
ACCOUNT_PAGE = by_role(LOGIN, 200, 200, 200, 200, 200, 200)
ACCOUNT_ACTION = by_role(LOGIN, 302, 302, 302, 302, 302, 302)
# The scene's talk: accepted, attendees tier, by a speaker who holds none of the roles above. Seeing it
# needs the signed agreement (an unsigned attendee, who may not know it exists, is led to the agreement
# whether or not the talk exists); organizers see every talk.
TALK_PAGE = by_role(404, 404, AGREEMENT, 200, 404, 200, 200)
# A material's own link (/m/<id>) names no event: the unsigned find nothing there.
MATERIAL_LINK = by_role(404, 404, 404, 200, 404, 200, 200)
# Only the talk's confirmed speakers act on it (SPEAKERS below shows that they can); everyone else who
# sees the talk is refused.
SPEAKERS_ONLY = by_role(404, 404, 404, 403, 404, 403, 403)
SPEAKERS_ONLY_PAGE = by_role(404, 404, AGREEMENT, 403, 404, 403, 403)
# Organizers review, decide and take attendance; attendees see the talk but may not.
TALK_MANAGE_PAGE = by_role(404, 404, AGREEMENT, 403, 404, 200, 200)
TALK_MANAGE_ACTION = by_role(404, 404, 404, 403, 404, 302, 302)
# Speakers of accepted talks say when they cannot speak; the scene's speaker is one (SPEAKERS below).
AVAILABILITY = by_role(404, 404, 403, 403, 404, 403, 403)
AVAILABILITY_PAGE = by_role(404, 404, AGREEMENT, 403, 404, 403, 403)

EXPECTED: dict[str, dict[str, dict]] = {
    "main.home": {"GET": everyone(200)},
    "main.health": {"GET": everyone(200)},
    "auth.sign_in": {"GET": everyone(200), "POST": everyone(200)},  # "check your email", whoever asks
    # An emailed link moves its token into the session at once, whoever opens it; the token-free page that
    # follows then shows and uses the link (the link, not who is signed in, decides).
    "auth.open_link": {"GET": everyone(302)},
    "auth.redeem_link": {"GET": everyone(200), "POST": everyone(302)},
    "auth.sign_out": {"POST": everyone(302)},
    "auth.account": {"GET": ACCOUNT_PAGE, "POST": ACCOUNT_ACTION},
    "auth.sign_out_everywhere": {"POST": ACCOUNT_ACTION},
    "admin.index": {"GET": ADMIN_PAGE},
    "admin.new_event": {"GET": ADMIN_PAGE, "POST": ADMIN_ACTION},
    "admin.users": {"GET": ADMIN_PAGE, "POST": ADMIN_ACTION},
    "admin.user_action": {"POST": ADMIN_ACTION},
    "events.landing": {"GET": by_role(404, 404, 200, 200, 404, 200, 200)},
    # The public page exists once the event enables it; then anyone may read it.
    "events.public": {"GET": everyone(200)},
    # Organizers read the agreement they publish but have no seat to sign it with. The attendee
    # has signed already: the page says so and records nothing new.
    # An attendee has signed already: signing again is refused and records nothing.
    "events.agreement": {"GET": by_role(404, 404, 200, 200, 404, 200, 200),
                         "POST": by_role(404, 404, 302, 400, 404, 403, 403)},
    "events.people": {"GET": CONTENT_PAGE},
    # Nominating is vouching as an attendee; organizers add people directly instead.
    "events.nominate": {"GET": by_role(404, 404, AGREEMENT, 200, 404, 403, 403),
                        "POST": by_role(404, 404, 403, 302, 404, 403, 403)},
    "events.withdraw": {"POST": by_role(404, 404, 302, 302, 404, 403, 403)},
    # An invitation is for its addressee: anyone else signed in is asked to sign out first.
    "invitation.open_link": {"GET": everyone(302)},
    "invitation.answer": {"GET": by_role(200, 409, 409, 409, 409, 409, 409),
                          "POST": by_role(302, 409, 409, 409, 409, 409, 409)},
    "manage.dashboard": {"GET": MANAGE_PAGE},
    "manage.settings": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    # Organizers name and remove their co-organizers; admins keep that power for every event.
    "manage.organizers": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "manage.remove_organizer": {"POST": MANAGE_ACTION},
    "manage.agreement": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "manage.audit_log": {"GET": MANAGE_PAGE},
    "manage.audit_export": {"GET": MANAGE_PAGE},
    # The overview's switches: the public page on or off, and the status that lets attendees sign up.
    "manage.public_page": {"POST": MANAGE_ACTION},
    "manage.switch_status": {"POST": MANAGE_ACTION},
    # The next edition is started by the event's organizers (who run the copy too), and by admins.
    "manage.clone": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "invites.index": {"GET": MANAGE_PAGE},
    "invites.bulk": {"POST": MANAGE_ACTION},
    "invites.add": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    # POST shows the preview; nothing is imported until it is confirmed.
    "invites.import_csv": {"GET": MANAGE_PAGE, "POST": MANAGE_PAGE},
    "invites.export": {"GET": MANAGE_PAGE},
    "invites.detail": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "proposals.index": {"GET": CONTENT_PAGE},
    # Attendees who signed propose; organizers run the event and do not propose to it.
    "proposals.new": {"GET": by_role(404, 404, AGREEMENT, 200, 404, 403, 403),
                      "POST": by_role(404, 404, 403, 302, 404, 403, 403)},
    "proposals.detail": {"GET": TALK_PAGE},
    "proposals.edit": {"GET": SPEAKERS_ONLY_PAGE, "POST": SPEAKERS_ONLY},
    # Organizers may raise the tier (the form raises it to restricted); attendees may not touch it.
    "proposals.tier": {"GET": TALK_MANAGE_PAGE, "POST": TALK_MANAGE_ACTION},
    "proposals.access": {"GET": SPEAKERS_ONLY_PAGE, "POST": SPEAKERS_ONLY},
    # Who sees the talk, and why: its speakers and the organizers (attendees see the talk, not its audience).
    "proposals.audience": {"GET": TALK_MANAGE_PAGE},
    # Asked of the organizer's request to make the talk public (see NEEDS): only its speaker answers it (the
    # organizer asked, so cannot consent for the speakers); only the organizer who asked withdraws it.
    "proposals.answer_request": {"POST": SPEAKERS_ONLY},
    "proposals.withdraw_request": {"POST": by_role(404, 404, 404, 403, 404, 302, 403)},
    "proposals.withdraw": {"POST": SPEAKERS_ONLY},
    # Only an invited co-speaker answers; none of the roles is one.
    "proposals.cospeaking": {"POST": SPEAKERS_ONLY},
    # Attendees mark the talks they want to attend; organizers do not vote.
    "proposals.vote": {"POST": by_role(404, 404, 404, 302, 404, 403, 403)},
    "proposals.decide": {"POST": TALK_MANAGE_ACTION},
    "proposals.attendance": {"GET": TALK_MANAGE_PAGE, "POST": TALK_MANAGE_ACTION},
    # Asked of the scene's second talk, the one with extra terms: whoever sees it may accept them.
    "proposals.terms": {"GET": TALK_PAGE, "POST": by_role(404, 404, 404, 302, 404, 302, 302)},
    "proposals.export": {"GET": MANAGE_PAGE},
    "materials.upload": {"POST": SPEAKERS_ONLY},
    "materials.delete": {"POST": SPEAKERS_ONLY},
    # Speakers and organizers see who opened a talk's materials.
    "materials.log": {"GET": TALK_MANAGE_PAGE},
    "materials.download": {"GET": MATERIAL_LINK},
    "materials.trace": {"GET": MANAGE_PAGE},
    # Where uploads stand (processing, ready, refused): for the panel of those who see them, speakers and organizers.
    "materials.status": {"GET": TALK_MANAGE_PAGE},
    "materials.expiry": {"POST": SPEAKERS_ONLY},
    # Speakers of a session or restricted talk (or one where it is on already) take only watermarked files.
    "materials.only_stamped": {"POST": SPEAKERS_ONLY},
    # The scene's PDF made view-only (see NEEDS): whoever may have it reads it in the reader, page by page,
    # and reports how long a page was in view; only the talk's speakers switch it.
    "reader.read": {"GET": by_role(404, 404, 404, 200, 404, 200, 200)},
    "reader.page": {"GET": by_role(404, 404, 404, 200, 404, 200, 200)},
    "reader.seen": {"POST": by_role(404, 404, 404, 204, 404, 204, 204)},
    "reader.set_view_only": {"POST": SPEAKERS_ONLY},
    "materials.trace_file": {"POST": by_role(404, 404, 403, 403, 404, 303, 303)},
    "materials.trace_result": {"GET": MANAGE_PAGE},
    "schedule.editor": {"GET": MANAGE_PAGE},
    "schedule.place": {"POST": MANAGE_ACTION},
    "schedule.unplace": {"POST": MANAGE_ACTION},
    "schedule.pin": {"POST": MANAGE_ACTION},
    "schedule.publish": {"POST": MANAGE_ACTION},
    "schedule.releases": {"GET": MANAGE_PAGE},
    "schedule.rooms": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "schedule.delete_room": {"POST": MANAGE_ACTION},
    "schedule.slots": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "schedule.delete_slot": {"POST": MANAGE_ACTION},
    "schedule.set_break": {"POST": MANAGE_ACTION},
    "schedule.availability": {"GET": AVAILABILITY_PAGE, "POST": AVAILABILITY},
    # Starting the auto-scheduler queues a run and opens its page; its progress, status (JSON) and proposed
    # schedule are the organizers'; applying the run places the talk; cancelling stops a run not yet taken.
    "autoschedule.form": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "autoschedule.progress": {"GET": MANAGE_PAGE},
    "autoschedule.status": {"GET": MANAGE_PAGE},
    "autoschedule.preview": {"GET": MANAGE_PAGE},
    "autoschedule.cancel": {"POST": MANAGE_ACTION},
    "autoschedule.apply": {"POST": MANAGE_ACTION},
    # The routes below ask about the scene's talk once it is placed and published as release 1.
    "sessions.schedule": {"GET": CONTENT_PAGE},
    "sessions.agenda": {"GET": CONTENT_PAGE},
    # Seats are for attendees who see the session; organizers run it and hold none.
    "sessions.signup": {"POST": by_role(404, 404, 404, 302, 404, 403, 403)},
    # Giving up a seat one does not hold changes nothing and says so; only the attendee holds one here.
    "sessions.cancel": {"POST": by_role(404, 404, 404, 302, 404, 409, 409)},
    "sessions.checkin": {"GET": TALK_MANAGE_PAGE, "POST": TALK_MANAGE_ACTION},
    "sessions.projector": {"GET": TALK_MANAGE_PAGE},
    "sessions.projector_qr": {"GET": TALK_MANAGE_PAGE},
    # The session's real code while it is under way: the unsigned know the event but not its schedule. The
    # page is what the projector's QR code opens: anonymous visitors are asked to sign in first.
    "sessions.self_checkin": {"GET": by_role(LOGIN, 404, AGREEMENT, 200, 404, 403, 403),
                              "POST": by_role(LOGIN, 404, 403, 302, 404, 403, 403)},
    "calendar.subscribe": {"GET": CONTENT_PAGE},
    # The new secret link is shown in this answer only, so it is a page, not a redirect.
    "calendar.reset": {"POST": by_role(404, 404, 403, 200, 404, 200, 200)},
    "calendar.revoke": {"POST": by_role(404, 404, 403, 302, 404, 302, 302)},
    # Asked once each subscriber has a feed link (see NEEDS): the opt-in for abstracts lives on the link.
    "calendar.details": {"POST": by_role(404, 404, 403, 302, 404, 302, 302)},
    # Asked with the public page off; while it is on, anyone gets its public sessions (a test below).
    "calendar.event_ics": {"GET": CONTENT_PAGE},
    "calendar.session_ics": {"GET": TALK_PAGE},
    # A guessed token opens nothing, whoever asks: the token decides, not the session (a real one: below).
    "calendar.personal": {"GET": everyone(404)},
    # The public exports exist while the public page is on (it is, in the scene): anyone reads them.
    "exports.public_json": {"GET": everyone(200)},
    "exports.public_xml": {"GET": everyone(200)},
    # As the personal feed: a guessed token opens nothing, whoever asks (a real one: tests/exports).
    "exports.personal_json": {"GET": everyone(404)},
    "exports.personal_xml": {"GET": everyone(404)},
    "exports.organizers_csv": {"GET": MANAGE_PAGE},
    # The API knows its caller by a bearer token only: a signed-in browser's cookie opens nothing there
    # (tests/api asks it with tokens). Its document is for anyone.
    "api.openapi_document": {"GET": everyone(200)},
    "api.me": {"GET": everyone(401)},
    "api.events": {"GET": everyone(401)},
    "api.event": {"GET": everyone(401)},
    "api.talks": {"GET": everyone(401)},
    "api.talk": {"GET": everyone(401)},
    "api.schedule": {"GET": everyone(401)},
    "api.signup_list": {"GET": everyone(401)},
    # Anyone signed in makes tokens (the answer is the page that shows the new one once); a token is revoked
    # by its owner only, here the attendee: anyone else's is no token of theirs.
    "api_tokens.create_token": {"POST": by_role(LOGIN, 200, 200, 200, 200, 200, 200)},
    "api_tokens.revoke_token": {"POST": by_role(LOGIN, 404, 404, 302, 404, 404, 404)},
    # Writing to people, the texts of the emails, the outbox and a wave's progress are the organizers'.
    "messages.index": {"GET": MANAGE_PAGE},
    "messages.compose": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "messages.detail": {"GET": MANAGE_PAGE},
    "messages.texts_index": {"GET": MANAGE_PAGE},
    "messages.edit_text": {"GET": MANAGE_PAGE, "POST": MANAGE_ACTION},
    "messages.outbox_page": {"GET": MANAGE_PAGE},
    "messages.retry": {"POST": MANAGE_ACTION},
    "messages.retry_failed": {"POST": MANAGE_ACTION},
    "messages.wave": {"GET": MANAGE_PAGE},
    "messages.wave_status": {"GET": MANAGE_PAGE},
    # The instance's whole outbox: admins only, invisible to everyone else.
    "admin_outbox.instance": {"GET": ADMIN_PAGE},
    "admin_outbox.instance_retry": {"POST": ADMIN_ACTION},
}

SPEAKERS: dict[str, dict[str, dict]] = {
    "proposals.index": {"GET": {"speaker": 200}},
    "proposals.new": {"GET": {"speaker": 200}, "POST": {"speaker": 302}},
    "proposals.detail": {"GET": {"speaker": 200, "cospeaker": 200}},
    "proposals.edit": {"GET": {"speaker": 200, "cospeaker": 403}, "POST": {"speaker": 302, "cospeaker": 403}},
    "proposals.tier": {"GET": {"speaker": 200}, "POST": {"speaker": 302, "cospeaker": 403}},
    "proposals.access": {"GET": {"speaker": 200}, "POST": {"speaker": 302, "cospeaker": 403}},
    "proposals.withdraw": {"POST": {"speaker": 302, "cospeaker": 403}},
    "proposals.audience": {"GET": {"speaker": 200, "cospeaker": 403}},
    # Until they confirm, an invited co-speaker is asked nothing.
    "proposals.answer_request": {"POST": {"speaker": 302, "cospeaker": 403}},
    "proposals.withdraw_request": {"POST": {"speaker": 403, "cospeaker": 403}},
    "proposals.cospeaking": {"POST": {"speaker": 403, "cospeaker": 302}},
    # Nobody votes on a talk they speak at, nor on one they are asked to join.
    "proposals.vote": {"POST": {"speaker": 403, "cospeaker": 403}},
    "proposals.decide": {"POST": {"speaker": 403}},
    "proposals.attendance": {"GET": {"speaker": 403}, "POST": {"speaker": 403}},
    "proposals.export": {"GET": {"speaker": 403}},
    "materials.upload": {"POST": {"speaker": 302, "cospeaker": 403}},
    "materials.delete": {"POST": {"speaker": 302, "cospeaker": 403}},
    "materials.log": {"GET": {"speaker": 200, "cospeaker": 403}},
    "materials.download": {"GET": {"speaker": 200}},
    "materials.trace": {"GET": {"speaker": 403}},
    "materials.status": {"GET": {"speaker": 200, "cospeaker": 403}},
    "materials.expiry": {"POST": {"speaker": 302, "cospeaker": 403}},
    "materials.only_stamped": {"POST": {"speaker": 302, "cospeaker": 403}},
    "reader.read": {"GET": {"speaker": 200}},
    "reader.page": {"GET": {"speaker": 200}},
    "reader.seen": {"POST": {"speaker": 204}},
    "reader.set_view_only": {"POST": {"speaker": 302, "cospeaker": 403}},
    "materials.trace_file": {"POST": {"speaker": 403}},
    "materials.trace_result": {"GET": {"speaker": 403}},
    "schedule.editor": {"GET": {"speaker": 403}},
    # Until they confirm, an invited co-speaker is not one of the speakers.
    "schedule.availability": {"GET": {"speaker": 200, "cospeaker": 403}, "POST": {"speaker": 302, "cospeaker": 403}},
    "autoschedule.form": {"GET": {"speaker": 403}},
    # A speaker keeps their seat in their own session.
    "sessions.signup": {"POST": {"speaker": 403}},
    "sessions.checkin": {"GET": {"speaker": 403}, "POST": {"speaker": 403}},
    "sessions.projector": {"GET": {"speaker": 403}},
    "sessions.projector_qr": {"GET": {"speaker": 403}},
    "calendar.session_ics": {"GET": {"speaker": 200, "cospeaker": 200}},
    "exports.organizers_csv": {"GET": {"speaker": 403}},
}


def expected_answers(endpoint: str, method: str) -> dict:
    """Every person's expected answer: the roles' row and the talk's people, where they have one."""
    return {**EXPECTED[endpoint][method], **SPEAKERS.get(endpoint, {}).get(method, {})}


CASES = [(endpoint, method, role) for endpoint, methods in EXPECTED.items()
         for method, statuses in methods.items() for role in ROLES]
SPEAKER_CASES = [(endpoint, method, person) for endpoint, methods in SPEAKERS.items()
                 for method, statuses in methods.items() for person in statuses]


@pytest.fixture
def scene(world, tmp_path, monkeypatch) -> Scene:
    keep_materials_in(monkeypatch, tmp_path / "materials")
    return build_scene(world)


# What a route needs besides the objects its URL names, so that its page shows something or its action has
# something to act on: made on first use, before the request (and before a snapshot of the tables).
NEEDS = {
    "schedule.editor": lambda scene: scene.placed_talk,
    "schedule.publish": lambda scene: scene.placed_talk,
    "schedule.releases": lambda scene: scene.released_talk,
    # The speaker's accepted talk makes them one of the speakers; the slot is the one they cannot make.
    "schedule.availability": lambda scene: (scene.talk, scene.slot),
    "autoschedule.form": lambda scene: (scene.talk, scene.room, scene.slot),
    "autoschedule.apply": lambda scene: scene.autoschedule_run,
    "sessions.schedule": lambda scene: scene.released_talk,
    "exports.organizers_csv": lambda scene: scene.released_talk,
    "exports.public_json": lambda scene: scene.released_talk,
    "sessions.agenda": lambda scene: scene.seat,
    "sessions.cancel": lambda scene: scene.seat,
    "calendar.revoke": lambda scene: scene.feed_links,
    "calendar.details": lambda scene: scene.feed_links,
    "calendar.event_ics": lambda scene: (scene.released_talk, scene.close_public_page()),
    "messages.retry": lambda scene: failed_message(scene),
    "messages.retry_failed": lambda scene: failed_message(scene),
    "admin_outbox.instance_retry": lambda scene: failed_message(scene),
    "proposals.answer_request": lambda scene: scene.widening_request,
    "proposals.withdraw_request": lambda scene: scene.widening_request,
    "materials.only_stamped": lambda scene: only_stamped_talk(scene),
    "reader.read": lambda scene: view_only(scene),
    "reader.page": lambda scene: view_only(scene),
    "reader.seen": lambda scene: read_a_minute_ago(scene),
}


def only_stamped_talk(scene: Scene) -> Proposal:
    """The scene's talk made a session talk, whose speakers may take only watermarked files."""
    scene.talk.tier = Tier.SESSION
    db.session.commit()
    return scene.talk


def view_only(scene: Scene) -> Material:
    """The scene's PDF, made view-only by its speaker."""
    material = scene.material
    reader.set_view_only(scene.speaker, material, True)
    db.session.commit()
    return material


def read_a_minute_ago(scene: Scene) -> None:
    """The view-only PDF's first page, shown a minute ago to everyone who may read it, so that a report
    of time in view has a page view to update."""
    material = view_only(scene)
    started = utcnow() - timedelta(minutes=1)
    for person in (scene.world.attendee, scene.world.organizer, scene.world.admin, scene.speaker):
        access = MaterialAccess(material_id=material.id, user_id=person.id, allowed=True, reason="test",
                                created_at=started)
        db.session.add(PageView(access=access, material_id=material.id, user_id=person.id, page=1,
                                started_at=started))
    db.session.commit()
# Routes about the scene's talk once it is released (the others ask about it as a proposal).
RELEASED_TALK_ROUTES = ("sessions.", "calendar.")


def talk_of(endpoint: str, scene: Scene) -> Proposal:
    """The talk a route's URL names: the one with extra terms for accepting them, the released one for
    the routes about sessions, the plain one otherwise."""
    if endpoint == "proposals.terms":
        return scene.terms_talk
    return scene.released_talk if endpoint.startswith(RELEASED_TALK_ROUTES) else scene.talk


def url_of(app, endpoint: str, scene: Scene) -> str:
    """The route's URL with every argument filled from the scene (making only the objects it names, and
    those it needs: see NEEDS)."""
    if endpoint in NEEDS:
        NEEDS[endpoint](scene)
    values = {
        "slug": lambda: scene.world.event.slug,
        "candidate_id": lambda: scene.candidate.id,
        "user_id": lambda: scene.world.stranger.id if endpoint == "admin.user_action" else scene.co_organizer.id,
        "action": lambda: "disable",
        "token": lambda: {"invitation.open_link": scene.invitation_token, "calendar.personal": new_token()[0],
                          "exports.personal_json": new_token()[0], "exports.personal_xml": new_token()[0],
                          }.get(endpoint, scene.login_token),  # never issued
        "public_id": lambda: talk_of(endpoint, scene).public_id,
        "material_public_id": lambda: scene.material.public_id,
        "room_id": lambda: scene.room.id,
        "talk_id": lambda: scene.talk.public_id,
        "token_id": lambda: attendees_api_token(scene),
        "slot_id": lambda: scene.slot.id,
        "request_id": lambda: scene.widening_request.public_id,
        "page": lambda: 1,
        "job_id": lambda: (scene.leak_trace if endpoint.startswith("materials.") else
                           scene.queued_run if endpoint == "autoschedule.cancel" else scene.autoschedule_run).public_id,
        "message_id": lambda: (written_message(scene).public_id if endpoint == "messages.detail"
                               else failed_message(scene)),
        "kind": lambda: "invitation",
        "wave_id": lambda: db.session.scalar(sa.select(sa.func.max(InviteWave.id)).where(
            InviteWave.event_id == scene.world.event.id)),
    }
    [rule] = app.url_map.iter_rules(endpoint)
    arguments = {name: values[name]() for name in rule.arguments}
    with app.test_request_context():
        return url_for(endpoint, **arguments)


def failed_message(scene: Scene) -> int:
    """The id of a message of the event's that ran out of attempts, made on first use."""
    if not hasattr(scene, "failed_message_id"):
        message = OutboxMessage(event_id=scene.world.event.id, to_email="attendee@example.org", subject="Hello",
                                body_text="Hello", status=MessageStatus.FAILED, attempts=5, last_error="refused")
        db.session.add(message)
        db.session.commit()
        scene.failed_message_id = message.id
    return scene.failed_message_id


def written_message(scene: Scene) -> EventMessage:
    """A message the organizer wrote to the attendees, made on first use."""
    if not hasattr(scene, "written"):
        scene.written = messages.send(scene.world.organizer, scene.world.event, messages.Audience("attendees"),
                                      "Practical details", "Hello {name}, doors open at nine.")
        db.session.commit()
    return scene.written


def attendees_api_token(scene: Scene) -> str:
    """The public id of an API token of the attendee's, made on first use."""
    if not hasattr(scene, "api_token_id"):
        token, _raw = api_tokens.create_token(scene.world.attendee, "Their conference app")
        db.session.commit()
        scene.api_token_id = token.public_id
    return scene.api_token_id


# Pages that show the link a browser opened: the link is opened (its token moved into the session) first.
OPENED_FIRST = {"auth.redeem_link": lambda scene: f"/auth/link/{scene.login_token}",
                "invitation.answer": lambda scene: f"/invitation/{scene.invitation_token}"}


def open_first(client, endpoint: str, scene: Scene) -> None:
    if endpoint in OPENED_FIRST:
        open_link(client, OPENED_FIRST[endpoint](scene))


def post_data(endpoint: str, scene: Scene) -> dict:
    """A valid form for each POST route, so that a 2xx/3xx means the action really ran."""
    soon = date.today() + timedelta(days=60)
    # Made on demand: each needs objects (a talk, a room, a placement) that other routes must not see made.
    made_on_demand = {
        "schedule.place": lambda: {"proposal": scene.talk.public_id, "room": scene.room.id, "slot": scene.slot.id},
        "schedule.unplace": lambda: {"proposal": scene.placed_talk.public_id},
        "schedule.pin": lambda: {"proposal": scene.placed_talk.public_id},
        "schedule.availability": lambda: {"unavailable": [str(scene.slot.id)]},
        "schedule.set_break": lambda: {"is_break": "1"},
        "sessions.self_checkin": lambda: {"code": signups.room_code(scene.released_talk)},
    }
    if endpoint in made_on_demand:
        return made_on_demand[endpoint]()
    forms = {
        "auth.sign_in": {"email": "stranger@example.org"},
        "auth.account": {"name": "A New Name"},
        "admin.new_event": {"title": "Second Retreat", "slug": "second-retreat", "kind": "workshop",
                            "timezone": "UTC", "starts_on": soon.isoformat(), "ends_on": soon.isoformat(),
                            "capacity": "12", "organizers": "org@example.org"},
        "admin.users": {"email": "newcomer@example.org", "name": "New Comer"},
        "events.agreement": {"typed_name": "Una Signed", "agree": "y"},
        "events.nominate": {"email": "friend@example.org", "name": "Fran Friend",
                            "note": "I have reviewed their work for years; careful and discreet."},
        "invitation.answer": {"answer": "accept"},
        "manage.settings": event_form(scene.world.event, title="The Retreat, renamed"),
        "manage.organizers": {"email": "new-org@example.org"},
        "manage.agreement": {"text": "Version two: keep it in the room, and out of your notes."},
        "manage.public_page": {"public_page": "off"},
        "manage.switch_status": {"status": "running"},
        "manage.clone": {"title": "The Retreat, again", "slug": "retreat-again", "starts_on": soon.isoformat()},
        "invites.bulk": {"action": "approve", "ids": [str(scene.candidate.id)]},
        "invites.add": {"email": "added@example.org", "name": "Ada Added", "approved": "y"},
        "invites.import_csv": {"stage": "upload", "text": "email,name\nimported@example.org,Imo Ported\n"},
        "invites.detail": {"name": "Pat Proposed", "affiliation": "Somewhere", "notes": "Met at the lab."},
        "proposals.new": talk_form(),
        "proposals.edit": talk_form(title="Early Results, Revised", duration_minutes="45", cospeakers=COSPEAKER_EMAIL),
        "proposals.tier": {"tier": "restricted"},
        "proposals.access": {"named": "attendee@example.org", "excluded": "rival.example"},
        "proposals.cospeaking": {"answer": "accept"},
        "proposals.answer_request": {"answer": "accept"},
        "proposals.decide": {"decision": "reject", "note": "Not this time."},
        "proposals.attendance": {"email": "attendee@example.org"},
        "proposals.terms": {"agree": "y"},
        # A fresh stream for every request: a read one would upload nothing.
        "materials.upload": {"file": (io.BytesIO(pdf_bytes()), "more-slides.pdf")},
        "materials.expiry": {"expires_at": (date.today() + timedelta(days=30)).isoformat() + "T18:00"},
        "materials.only_stamped": {"only_stamped": "y"},
        "reader.seen": {"page": "1", "seconds": "30"},
        "reader.set_view_only": {"mode": "view-only"},
        "materials.trace_file": {"file": (io.BytesIO(blank_png()), "leaked.png")},
        "schedule.rooms": {"name": "Annex Two", "capacity": "12", "closed_door": "y"},
        "schedule.slots": {"day": scene.world.event.starts_on.isoformat(), "starts": "18:00, 19:00", "minutes": "30"},
        "autoschedule.form": {"scope": "unplaced", "time_limit": "1", "seed": "0"},
        "sessions.checkin": {"email": "attendee@example.org"},
        "calendar.details": {"details": "y"},
        "api_tokens.create_token": {"name": "My conference app"},
        "messages.compose": {"action": "send", "segment": "attendees", "subject": "Doors open at nine",
                             "body": "Hello {name}, see you at {event}."},
        "messages.edit_text": {"action": "save", "subject": "Come to {event}",
                               "body": "Dear {name}, here is your link: {link}"},
    }
    return forms.get(endpoint, {})


def request_as(client, method: str, url: str, data: dict):
    return client.get(url) if method == "GET" else client.post(url, data=data)


def test_every_route_has_a_row(app):
    """A new route, or a new method on an old one, must be given its expected answers first."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            routes.setdefault(rule.endpoint, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    assert set(routes) == set(EXPECTED)
    assert {e: set(m) for e, m in EXPECTED.items()} == routes
    assert all(set(statuses) == set(ROLES) for methods in EXPECTED.values() for statuses in methods.values())
    assert all(method in routes.get(endpoint, ()) and set(people) <= set(TALK_PEOPLE)
               for endpoint, methods in SPEAKERS.items() for method, people in methods.items())


def assert_answer(response, expected, url: str = "") -> None:
    if expected == LOGIN:
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        assert urlsplit(response.headers["Location"]).path == "/auth/sign-in"
    elif expected == AGREEMENT:
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        where = urlsplit(response.headers["Location"])
        assert where.path.endswith("/agreement") and where.path.startswith("/e/")
        assert parse_qs(where.query)["next"] == [url]
    else:
        assert response.status_code == expected, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize(("endpoint", "method", "person"), SPEAKER_CASES)
def test_route_answers_the_talks_people(app, client, scene, endpoint, method, person):
    login_as(client, scene.user(person))
    open_first(client, endpoint, scene)
    url = url_of(app, endpoint, scene)
    response = request_as(client, method, url, post_data(endpoint, scene))
    assert_answer(response, SPEAKERS[endpoint][method][person], url)


@pytest.mark.parametrize(("endpoint", "method", "role"), CASES)
def test_route_answers_each_role(app, client, scene, endpoint, method, role):
    login_as(client, scene.world.users[role])
    open_first(client, endpoint, scene)
    url = url_of(app, endpoint, scene)
    response = request_as(client, method, url, post_data(endpoint, scene))
    assert_answer(response, EXPECTED[endpoint][method][role], url)


def test_public_page_is_absent_until_enabled(client, world):
    """Without a public page there is nothing to show, to anyone, organizers included."""
    assert not world.event.public_page
    for role in ROLES:
        login_as(client, world.users[role])
        assert client.get(f"/e/{world.event.slug}/public").status_code == 404, role


# --- calendar feeds: the secret link decides, and only while its owner may see the schedule -----

FEED_LINK = re.compile(r"http://conclave\.test(/calendar/[\w-]+\.ics)")


def test_personal_feed_opens_with_its_link_until_its_owner_is_revoked(client, scene):
    """The link the subscribe page hands out opens its owner's sessions, signed in or not; once the owner
    is revoked it opens nothing, while another subscriber's link still works."""
    world, talk = scene.world, scene.seat.proposal
    login_as(client, world.attendee)
    page = client.post(f"/e/{world.event.slug}/calendar/reset")
    assert page.status_code == 200
    url = FEED_LINK.search(page.get_data(as_text=True)).group(1)
    organizers_url = f"/calendar/{calendar.reset_feed(world.organizer, world.event)}.ics"
    db.session.commit()

    login_as(client, None)
    feed = client.get(url)
    assert feed.status_code == 200 and feed.content_type.startswith("text/calendar")
    assert f"X-WR-CALNAME:{world.event.title}: my sessions" in feed.get_data(as_text=True)
    assert talk.title in feed.get_data(as_text=True)

    candidate = db.session.scalar(sa.select(Candidate).where(Candidate.event_id == world.event.id,
                                                             Candidate.user_id == world.attendee.id))
    invites.revoke(world.organizer, world.event, [candidate])
    db.session.commit()
    assert client.get(url).status_code == 404
    login_as(client, world.attendee)
    assert client.get(url).status_code == 404
    assert client.get(organizers_url).status_code == 200


def test_event_feed_with_the_public_page_on_holds_only_public_sessions(client, scene):
    """While the public page is on, anyone may have the event's feed: the public sessions, and nothing of
    the others, not even a closed placeholder."""
    world, talk = scene.world, scene.released_talk
    url = f"/e/{world.event.slug}/calendar.ics"
    login_as(client, world.attendee)
    assert talk.title in client.get(url).get_data(as_text=True)
    for role in ("anonymous", "stranger", "unsigned", "other_organizer"):
        login_as(client, world.users[role])
        feed = client.get(url)
        assert feed.status_code == 200, role
        assert "BEGIN:VEVENT" not in feed.get_data(as_text=True), role

    proposals.change_tier(scene.speaker, talk, Tier.PUBLIC)
    db.session.commit()
    login_as(client, None)
    assert talk.title in client.get(url).get_data(as_text=True)


# --- no object is reachable by a guessed id ---------------------------------------------------


@pytest.mark.parametrize("role", ["other_organizer", "admin"])
def test_candidate_ids_do_not_cross_events(client, scene, role):
    """world.event's candidates, asked for through world.other_event's slug, do not exist there."""
    world, candidate = scene.world, scene.candidate
    login_as(client, world.users[role])
    base = f"/e/{world.other_event.slug}/manage/invites"
    assert client.get(f"{base}/{candidate.id}").status_code == 404
    response = client.post(f"{base}/{candidate.id}", data={"name": "Hijacked", "notes": "seen"})
    assert response.status_code == 404
    client.post(f"{base}/bulk", data={"action": "revoke", "ids": [str(candidate.id)]})
    db.session.refresh(candidate)
    assert (candidate.name, candidate.notes, candidate.status) == ("Proposed", "", CandidateStatus.PROPOSED)


def test_organizer_ids_do_not_cross_events(client, scene):
    """Removing world.event's organizer through world.other_event's slug finds no such organizer."""
    world = scene.world
    login_as(client, world.admin)
    response = client.post(f"/e/{world.other_event.slug}/manage/organizers/{scene.co_organizer.id}/remove")
    assert response.status_code == 404
    db.session.refresh(world.event)
    assert scene.co_organizer in world.event.organizers


# --- a denial tells nothing about what exists -------------------------------------------------


HIDDEN_PATHS = [
    "/e/{slug}/",
    "/e/{slug}/agreement",
    "/e/{slug}/people",
    "/e/{slug}/nominate",
    "/e/{slug}/public",
    "/e/{slug}/manage/",
    "/e/{slug}/manage/settings",
    "/e/{slug}/manage/invites/",
    "/e/{slug}/manage/invites/{candidate_id}",
    "/e/{slug}/manage/invites/export.csv",
]


@pytest.mark.parametrize("role", ["anonymous", "stranger", "other_organizer"])
@pytest.mark.parametrize("path", HIDDEN_PATHS)
def test_hidden_event_looks_like_no_event(client, world, role, path):
    """Without a public page, nothing under the event's slug differs from a slug nobody uses."""
    candidate = make_candidate(world.event, "hidden@example.org")
    login_as(client, world.users[role])
    hidden = client.get(path.format(slug=world.event.slug, candidate_id=candidate.id))
    missing = client.get(path.format(slug="no-such-event", candidate_id=candidate.id))
    assert hidden.status_code == 404
    assert denial_page(hidden) == denial_page(missing)


def test_hidden_event_posts_look_like_no_event(client, scene):
    """A stranger's write to a hidden event is refused exactly as one to a missing event."""
    login_as(client, scene.world.stranger)
    data = post_data("invites.add", scene)
    hidden = client.post(f"/e/{scene.world.event.slug}/manage/invites/new", data=data)
    missing = client.post("/e/no-such-event/manage/invites/new", data=data)
    assert hidden.status_code == 404
    assert denial_page(hidden) == denial_page(missing)


def test_other_events_candidate_looks_like_no_candidate(client, scene):
    """An organizer guessing an id on another event's list learns nothing from the answer."""
    world = scene.world
    login_as(client, world.organizer)
    base = f"/e/{world.event.slug}/manage/invites"
    hidden = client.get(f"{base}/{scene.other_candidate.id}")
    missing_id = db.session.scalar(sa.select(sa.func.max(Candidate.id))) + 1000
    missing = client.get(f"{base}/{missing_id}")
    assert hidden.status_code == 404
    assert denial_page(hidden) == denial_page(missing)


@pytest.mark.parametrize("role", ["anonymous", "stranger", "organizer"])
def test_admin_pages_look_like_no_pages(client, world, role):
    login_as(client, world.users[role])
    existing, missing = client.get("/admin/users"), client.get("/admin/no-such-page")
    assert existing.status_code == 404
    assert denial_page(existing) == denial_page(missing)


# --- talks and their materials: hidden ones look like missing ones ---------------------------


def talk_url(talk: Proposal) -> str:
    return f"/e/{talk.event.slug}/proposals/{talk.public_id}"


def missing_talk_url(scene: Scene) -> str:
    return f"/e/{scene.world.event.slug}/proposals/{public_id()}"


def assert_looks_missing(client, hidden_url: str, missing_url: str) -> None:
    hidden, missing = client.get(hidden_url), client.get(missing_url)
    assert hidden.status_code == 404
    assert denial_page(hidden) == denial_page(missing)


def test_restricted_talk_looks_like_no_talk_to_people_not_named(client, scene):
    """A restricted talk is, to an attendee not on its named list, a talk that does not exist."""
    world, talk = scene.world, scene.talk
    material = scene.material
    named = make_participant(world.event, "named@example.org")
    proposals.change_tier(scene.speaker, talk, Tier.RESTRICTED)
    proposals.set_access(scene.speaker, talk, named.email, "")
    db.session.commit()

    login_as(client, named)
    assert client.get(talk_url(talk)).status_code == 200
    assert talk.title in client.get(f"/e/{world.event.slug}/proposals/").get_data(as_text=True)
    assert client.get(f"/m/{material.public_id}").status_code == 200

    login_as(client, world.attendee)
    assert_looks_missing(client, talk_url(talk), missing_talk_url(scene))
    assert_looks_missing(client, f"/m/{material.public_id}", f"/m/{public_id()}")
    assert talk.title not in client.get(f"/e/{world.event.slug}/proposals/").get_data(as_text=True)
    assert client.post(f"{talk_url(talk)}/vote").status_code == 404


@pytest.mark.parametrize("exclusion", ["ada@cs.lab.example", "lab.example", "@cs.lab.example"])
def test_excluded_attendee_finds_no_talk_and_no_material(client, scene, exclusion):
    """An exclusion, of the person or of their email domain, hides the talk and its file entirely."""
    world, talk = scene.world, scene.talk
    material = scene.material
    ada = make_participant(world.event, "ada@cs.lab.example")
    login_as(client, ada)
    assert client.get(talk_url(talk)).status_code == 200
    assert client.get(f"/m/{material.public_id}").status_code == 200

    proposals.set_access(scene.speaker, talk, "", exclusion)
    db.session.commit()
    assert_looks_missing(client, talk_url(talk), missing_talk_url(scene))
    assert_looks_missing(client, f"/m/{material.public_id}", f"/m/{public_id()}")
    assert talk.title not in client.get(f"/e/{world.event.slug}/proposals/").get_data(as_text=True)
    # Other attendees are not touched by it.
    login_as(client, world.attendee)
    assert client.get(talk_url(talk)).status_code == 200


@pytest.fixture
def their_material(scene) -> Material:
    """A PDF on an accepted talk of world.other_event, which none of world.event's people attend."""
    world = scene.world
    theirs = make_participant(world.other_event, "their-speaker@example.org")
    talk = proposed_and_accepted(theirs, world.other_organizer, world.other_event, "Their Own Results")
    return upload_pdf(theirs, talk, "their-slides.pdf")


def test_material_id_from_another_event_finds_nothing(client, scene, their_material):
    """Another event's material id, guessed or leaked, opens nothing: not as a download, nor through
    one of this event's talks, whoever asks."""
    world, talk = scene.world, scene.talk
    ours = f"{talk_url(talk)}/materials"
    missing = public_id()

    login_as(client, world.attendee)
    assert_looks_missing(client, f"/m/{their_material.public_id}", f"/m/{missing}")
    login_as(client, world.organizer)
    assert_looks_missing(client, f"{ours}/{their_material.public_id}/log", f"{ours}/{missing}/log")
    assert_looks_missing(client, f"/e/{world.event.slug}/proposals/{their_material.proposal.public_id}",
                         missing_talk_url(scene))

    login_as(client, scene.speaker)
    every_material = sa.select(Material.__table__).order_by(Material.id)
    before = db.session.execute(every_material).all()
    assert client.post(f"{ours}/{their_material.public_id}/delete").status_code == 404
    assert client.get(f"/m/{their_material.public_id}").status_code == 404
    assert db.session.execute(every_material).all() == before
    login_as(client, world.other_organizer)
    assert client.get(f"/m/{their_material.public_id}").status_code == 200  # it exists, for its own event


def test_excluded_organizer_finds_no_talk_where_others_review_it(client, scene):
    """An exclusion beats the organizer's role: the talk, its file and its row in the export are gone
    for them, while the event's other organizers still review it."""
    world, talk = scene.world, scene.talk
    material = scene.material
    proposals.set_access(scene.speaker, talk, "", world.organizer.email)
    db.session.commit()
    export = f"/e/{world.event.slug}/proposals/export.csv"

    login_as(client, world.organizer)
    assert_looks_missing(client, talk_url(talk), missing_talk_url(scene))
    assert_looks_missing(client, f"/m/{material.public_id}", f"/m/{public_id()}")
    assert_looks_missing(client, f"{talk_url(talk)}/attendance", f"{missing_talk_url(scene)}/attendance")
    assert client.post(f"{talk_url(talk)}/decide", data={"decision": "reject"}).status_code == 404
    assert talk.title not in client.get(export).get_data(as_text=True)

    login_as(client, scene.co_organizer)
    assert client.get(talk_url(talk)).status_code == 200
    assert talk.title in client.get(export).get_data(as_text=True)
    db.session.refresh(talk)
    assert talk.status == ProposalStatus.ACCEPTED


# --- CSRF on every state-changing route ----------------------------------------------------------
#
# The rest of the suite runs with CSRF checks off so that it can post forms directly; here they are on.
# Every POST route is tried as a role that is allowed to use it, so that the only reason for a refusal is
# the missing token: it must answer 400 and leave every table as it was. The same request with a token
# taken from a rendered page must then get the answer the matrix above expects, which shows that the
# token, and nothing else, made the difference.

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
# Whom to try each route as: the first of these people the matrix lets through (3xx before 2xx). The
# talk's own people come last: some routes are theirs alone.
PREFERENCE = ("organizer", "admin", "attendee", "unsigned", "anonymous", "speaker", "cospeaker")
POST_ROUTES = sorted(endpoint for endpoint, methods in EXPECTED.items() if "POST" in methods)
# Routes whose allowed answer writes nothing: the sign-in form tells a signed-in person they are signed
# in, and an import's first step only shows a preview. (Signing out deletes the session's row.)
WRITE_NOTHING = {"auth.sign_in", "invites.import_csv"}
# Routes tried as someone further down the list: organizers hold no seat, so only the attendee has one to give up.
TRY_AS = {"sessions.cancel": "attendee"}


def allowed_role(endpoint: str) -> str:
    statuses = expected_answers(endpoint, "POST")
    people = (TRY_AS[endpoint],) if endpoint in TRY_AS else PREFERENCE
    for wanted in (range(300, 400), range(200, 300)):
        for role in people:
            if statuses.get(role) in wanted:
                return role
    raise AssertionError(f"no role may POST to {endpoint}")


def csrf_token_from(response) -> str:
    match = TOKEN.search(response.get_data(as_text=True))
    assert match, "the page renders no CSRF token"
    return match.group(1) or match.group(2)


@pytest.fixture
def csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)


def test_every_post_route_has_someone_to_try_it(app):
    """The tests below cover every POST route there is, each as someone who may use it."""
    posts = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    assert set(POST_ROUTES) == posts
    assert all(allowed_role(endpoint) for endpoint in POST_ROUTES)


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_post_without_token_is_refused_and_changes_nothing(app, client, scene, csrf_on, endpoint):
    # The URL and form first: they may make the talk or the file they name, which the snapshot must include.
    url, data = url_of(app, endpoint, scene), post_data(endpoint, scene)
    login_as(client, scene.user(allowed_role(endpoint)))
    open_first(client, endpoint, scene)
    before = snapshot()

    response = client.post(url, data=data)

    assert response.status_code == 400
    assert "The CSRF token is missing." in response.get_data(as_text=True)
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_post_with_wrong_token_is_refused(app, client, scene, csrf_on, endpoint):
    url, data = url_of(app, endpoint, scene), post_data(endpoint, scene)
    login_as(client, scene.user(allowed_role(endpoint)))
    open_first(client, endpoint, scene)
    csrf_token_from(client.get("/auth/sign-in"))  # the session holds a real token; the form sends another
    before = snapshot()
    response = client.post(url, data={**data, "csrf_token": "forged"})
    assert response.status_code == 400
    assert "The CSRF token is invalid." in response.get_data(as_text=True)
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_post_with_token_from_a_page_gets_through(app, client, scene, csrf_on, endpoint):
    """The same request as above, with the token a rendered form carries, is answered as usual."""
    role = allowed_role(endpoint)
    url, data = url_of(app, endpoint, scene), post_data(endpoint, scene)
    login_as(client, scene.user(role))
    open_first(client, endpoint, scene)
    token = csrf_token_from(client.get("/auth/sign-in"))
    before = snapshot()
    response = client.post(url, data={**data, "csrf_token": token})
    assert response.status_code == expected_answers(endpoint, "POST")[role]
    if endpoint not in WRITE_NOTHING:
        assert snapshot() != before, "the request was let through but did nothing"


def test_organizer_adds_a_candidate_with_the_rendered_form(client, world, csrf_on):
    """The whole round trip a browser makes: load the form, keep its token, submit it."""
    login_as(client, world.organizer)
    page = client.get("/e/retreat/manage/invites/new")
    assert page.status_code == 200
    response = client.post("/e/retreat/manage/invites/new", data={
        "csrf_token": csrf_token_from(page), "email": "grace@example.org", "name": "Grace Hopper", "approved": "y"})
    assert response.status_code == 302
    added = db.session.scalar(sa.select(Candidate).where(Candidate.email == "grace@example.org"))
    assert added is not None and added.event_id == world.event.id


def test_token_from_another_session_is_refused(app, client, world, csrf_on):
    """A token lifted from someone else's page is useless in this session."""
    other = app.test_client()
    login_as(other, world.admin)
    foreign = csrf_token_from(other.get("/admin/users"))
    login_as(client, world.admin)
    response = client.post("/admin/users", data={"csrf_token": foreign, "email": "lifted@example.org"})
    assert response.status_code == 400
    assert db.session.scalar(sa.select(User).where(User.email == "lifted@example.org")) is None


def test_token_refusal_tells_nothing_about_the_event(client, world, csrf_on):
    """Without a token a stranger gets the same answer for a hidden event and a missing one."""
    login_as(client, world.stranger)
    hidden = client.post(f"/e/{world.event.slug}/manage/invites/new", data={"email": "x@example.org"})
    missing = client.post("/e/no-such-event/manage/invites/new", data={"email": "x@example.org"})
    assert hidden.status_code == 400
    assert denial_page(hidden) == denial_page(missing)
