"""A demo event with people in every state, built through the same services the web pages use.

Going through the services (rather than writing rows) means the demo shows what the real workflow
produces: audit entries, emails in the outbox, agreement versions, a full event with a waitlist.
The demo's people read their email at once: what is queued for them while the demo is built is
delivered to their inboxes here (``DemoInboxes``), and invitees answer by the link in the
invitation they received, just as they would by clicking it. Only Inès's invitation is left to
the worker, so that it appears in the console and can be answered by hand.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from . import mail, policy
from .extensions import db
from .models import (
    Candidate,
    CandidateStatus,
    Event,
    EventKind,
    EventStatus,
    Invitation,
    MessageStatus,
    OutboxMessage,
    ProposalKind,
    Tier,
    User,
    utcnow,
)
from .services import accounts, agreements, events, invites, materials, proposals, schedule, signups

SLUG = "demo"
DEMO_IP = "192.0.2.10"  # TEST-NET-1: a documentation address, never a real visitor's
_TOKEN_RE = re.compile(r"/invitation/([A-Za-z0-9_-]+)")


class DemoInboxes:
    """A mail backend whose recipients are the demo's simulated people (all but ``real``, whose mail
    is left to the worker)."""

    def __init__(self, real: tuple[str, ...]):
        self.real = real
        self.received: list[mail.Composed] = []

    def send(self, message: mail.Composed) -> None:
        self.received.append(message)

    def deliver(self) -> None:
        """Deliver every message queued so far for the simulated people, in this transaction."""
        db.session.flush()
        waiting = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.status == MessageStatus.PENDING,
                                           OutboxMessage.to_email.not_in(self.real))
            .order_by(OutboxMessage.id)
        ).all()
        for message in waiting:
            mail.deliver_in_transaction(message, self)

DESCRIPTION = """\
Three days in a quiet house by the lake for researchers working on **frontier model safety**:
evaluations, interpretability, control and the governance questions that follow from them.

- Most talks are early, unpublished work; each speaker decides how far their talk travels.
- Mornings are talks and demos, afternoons are open discussion and walks.
- Meals and rooms are covered; travel grants are available on request.

Please read and sign the confidentiality agreement before you look at the programme.
"""

AGREEMENT_V2 = (
    events.DEFAULT_AGREEMENT
    + " I will not photograph slides or screens, and I will ask a speaker before quoting them, "
    "even without attribution."
)

# email, name, affiliation, tags, organizers' notes
PEOPLE = {
    "amara": ("amara.okafor@example.org", "Amara Okafor", "Lakeside Alignment Lab", "interpretability, speaker",
              "Keynote on sparse feature circuits. Arrives a day early."),
    "bruno": ("bruno.lindqvist@example.org", "Bruno Lindqvist", "Nordic AI Institute", "evals",
              "Ran the red-teaming track last year."),
    "chiara": ("chiara.rossi@example.org", "Chiara Rossi", "Politecnico di Milano", "control, student", ""),
    "dmitri": ("dmitri.volkov@example.org", "Dmitri Volkov", "Independent", "evals", ""),
    "emeka": ("emeka.eze@example.org", "Emeka Eze", "Open Policy Forum", "governance", "Travel grant approved."),
    "fatima": ("fatima.haddad@example.org", "Fatima Haddad", "Cedar Research", "interpretability",
               "Happy to come at short notice if a seat opens."),
    "gustav": ("gustav.berg@example.org", "Gustav Berg", "Uppsala University", "governance", ""),
    "hana": ("hana.sato@example.org", "Hana Sato", "Kyoto Institute of Technology", "evals, remote",
             "Invitation went unanswered; try again in the next wave."),
    "ines": ("ines.moreau@example.org", "Inès Moreau", "Paris Safety Collective", "control", ""),
    "jonas": ("jonas.weber@example.org", "Jonas Weber", "TU München", "interpretability, student",
              "Second wave if seats remain."),
}
NOMINEE = ("kofi.mensah@example.org", "Kofi Mensah", "Accra AI Lab")


def _invitation_token(inboxes: DemoInboxes, candidate: Candidate) -> str:
    """The token from the newest invitation this person received: the link they would click."""
    inboxes.deliver()
    for message in reversed(inboxes.received):
        match = _TOKEN_RE.search(message.body_text) if message.to_email == candidate.email else None
        if match is not None:
            return match.group(1)
    raise RuntimeError(f"No invitation email reached {candidate.email}.")


def _accept(token: str) -> User:
    """Accept as the invitee would, and return the account the acceptance created."""
    candidate = invites.accept_invitation(token)
    return db.session.get(User, candidate.user_id)


def _sign_in_help(base_url: str) -> str:
    backend = current_app.config["MAIL_BACKEND"]
    where = {
        "console": "in the console where the app runs",
        "file": f"as an .eml file in {current_app.config['MAIL_FILE_DIR']}",
        "sendgrid": "in that person's mailbox (SendGrid is configured)",
    }.get(backend, f"through the {backend} mail backend")
    return (f"To sign in as anyone below, go to {base_url}/auth/sign-in and type their email; "
            f"the sign-in link appears {where}.")


def create_demo() -> list[str]:
    """Create the demo event and its people, commit, send the queued mail and say how to sign in.

    Raises ValueError if an event with the slug ``demo`` already exists, so a second run changes nothing.
    """
    if db.session.scalar(sa.select(Event.id).where(Event.slug == SLUG)) is not None:
        raise ValueError("The demo event already exists (slug “demo”); nothing was changed.")

    admin = accounts.create_user("admin@example.org", "Ada Admin", admin=True)
    organizer = accounts.create_user("organizer@example.org", "Olivia Organizer")
    starts = date.today() + timedelta(weeks=4)
    event = events.create_event(admin, events.EventData(
        title="Frontier Safety Research Retreat",
        slug=SLUG,
        description=DESCRIPTION,
        kind=EventKind.WORKSHOP,
        venue="Haus am See, Wannsee, Berlin",
        timezone="Europe/Berlin",
        starts_on=starts,
        ends_on=starts + timedelta(days=2),
        capacity=4,  # small on purpose: the fifth person to accept lands on the waitlist
    ), [organizer.email])

    people: dict[str, Candidate] = {}
    for key, (email, name, affiliation, tags, notes) in PEOPLE.items():
        people[key] = invites.add_candidate(organizer, event, email, name, affiliation, approved=True, tags=tags,
                                            notes=notes)

    # First wave (the event leaves draft). Most answer; Hana never does, and her link runs out.
    invites.send_wave(organizer, event, [people[k] for k in ("amara", "dmitri", "gustav", "hana")])
    inboxes = DemoInboxes(real=(people["ines"].email,))
    tokens = {k: _invitation_token(inboxes, people[k]) for k in ("amara", "dmitri", "gustav")}
    users: dict[str, User] = {}
    for key in ("amara", "dmitri"):
        users[key] = _accept(tokens[key])
        agreements.sign(users[key], event, people[key].name, DEMO_IP)
    invites.decline_invitation(tokens["gustav"])
    # Nobody waits two weeks for a demo: move Hana's deadline into the past and let the service expire her.
    yesterday = utcnow() - timedelta(days=1)
    people["hana"].invite_expires_at = yesterday
    db.session.execute(sa.update(Invitation).where(Invitation.candidate_id == people["hana"].id)
                       .values(expires_at=yesterday))
    db.session.flush()
    invites.expire_overdue(event)

    # A stricter agreement: everyone signs again; Chiara accepts but has not signed yet.
    agreements.publish_version(organizer, event, AGREEMENT_V2)
    agreements.sign(users["amara"], event, people["amara"].name, DEMO_IP)
    invites.send_wave(organizer, event, [people[k] for k in ("bruno", "chiara")])
    for key in ("bruno", "chiara"):
        users[key] = _accept(_invitation_token(inboxes, people[key]))
    agreements.sign(users["bruno"], event, people["bruno"].name, DEMO_IP)

    dmitri = people["dmitri"]
    invites.update_candidate(organizer, dmitri, dmitri.name, dmitri.affiliation,
                             "Posted another workshop's slides publicly. Revoked on the organizers' decision.",
                             ", ".join(dmitri.tag_names))
    invites.revoke(organizer, event, [people["dmitri"]])

    # Open the event for proposals, then a last wave: Emeka takes the last seat, Fatima the waitlist,
    # and Inès has not answered yet; her link in the outbox works.
    events.update_event(organizer, event, events.EventData(
        title=event.title, slug=event.slug, description=event.description, kind=event.kind, venue=event.venue,
        timezone=event.timezone, starts_on=event.starts_on, ends_on=event.ends_on, capacity=event.capacity,
        public_page=True, status=EventStatus.OPEN,
    ))
    invites.send_wave(organizer, event, [people[k] for k in ("emeka", "fatima", "ines")])
    for key in ("emeka", "fatima"):
        users[key] = _accept(_invitation_token(inboxes, people[key]))
    agreements.sign(users["emeka"], event, people["emeka"].name, DEMO_IP)

    # Attendees vouch for someone new; the organizers note what to do about it.
    email, name, affiliation = NOMINEE
    invites.nominate(users["amara"], event, email, name, affiliation,
                     "Kofi built the evaluation harness we all use; his unpublished results on sandbagging "
                     "would be a great fit for the discussion day.")
    invites.nominate(users["bruno"], event, email, name, affiliation,
                     "Worked with him on the autumn red-teaming sprint. Careful and discreet.")
    kofi = db.session.scalar(sa.select(Candidate).where(Candidate.event_id == event.id, Candidate.email == email))
    invites.update_candidate(organizer, kofi, kofi.name, kofi.affiliation,
                             "Two vouches. Decide at the next organizers' call.", "evals, nominated")

    talks = _add_talks(event, organizer, users)
    _add_schedule(event, organizer, users, talks)

    inboxes.deliver()
    db.session.commit()  # and the worker sends Inès her invitation
    counts = invites.status_counts(event)
    if any(counts[status] == 0 for status in CandidateStatus):  # the demo's whole point
        raise RuntimeError(f"The demo is missing a status: {counts}")

    base_url = current_app.config["BASE_URL"]
    roles = [
        (admin.email, "admin: creates events, manages users"),
        (organizer.email, "organizer of the demo event"),
        (users["amara"].email, "attendee and speaker of a restricted talk; vouched for Kofi"),
        (users["bruno"].email, "attendee, speaker of a session-tier talk, on Amara's named list"),
        (users["emeka"].email, "attendee, speaker of a public talk; attended Bruno's session"),
        (users["chiara"].email, "accepted, has not signed the agreement yet"),
        (users["fatima"].email, "on the waitlist"),
        (people["gustav"].email, "declined"),
        (users["dmitri"].email, "revoked: sees nothing of the event"),
    ]
    width = max(len(email) for email, _ in roles)
    return [
        f"Created the demo event “{event.title}”: {base_url}/e/{SLUG}/",
        _sign_in_help(base_url),
        *(f"  {email.ljust(width)}  {role}" for email, role in roles),
        f"{people['ines'].email} is invited and has not answered: open the invitation link in the email sent "
        "to them to accept or decline.",
    ]


def _add_talks(event: Event, organizer: User, users: dict[str, User]) -> None:
    """One talk per tier, decided, voted for and with attendance, so each rule can be seen at work."""
    def talk(speaker: str, title: str, abstract: str, kind: ProposalKind, minutes: int, tier: Tier, **flags):
        return proposals.submit(users[speaker], event, proposals.ProposalData(
            title=title, abstract=abstract, kind=kind, duration_minutes=minutes, tier=tier, **flags))

    circuits = talk("amara", "Sparse feature circuits in a frontier model",
                    "What we found when we traced **refusal** through 40k sparse features. Unpublished; "
                    "please do not discuss outside the room until the paper is out.",
                    ProposalKind.TALK, 45, Tier.RESTRICTED, extra_terms="I will not cite these results before "
                    "the paper is published, and I will not share the slides.")
    proposals.set_access(users["amara"], circuits, users["bruno"].email, "rival-lab.example")
    proposals.change_tier(users["amara"], circuits, Tier.RESTRICTED, Tier.ATTENDEES,
                          datetime.combine(event.ends_on + timedelta(days=14), time(9)))
    red_team = talk("bruno", "Red-teaming results: what broke, and why",
                    "A frank account of the autumn sprint. Chatham House: use what you hear, not who said it.",
                    ProposalKind.DISCUSSION, 60, Tier.SESSION, chatham_house=True, no_recording=True)
    governance = talk("emeka", "Governance after a capability jump",
                      "Which commitments survive contact with a surprise, and which do not.",
                      ProposalKind.TALK, 30, Tier.PUBLIC)
    harness = talk("bruno", "Lightning: five pitfalls of eval harnesses",
                   "Five ways our harness lied to us, in five minutes.", ProposalKind.LIGHTNING, 5, Tier.ATTENDEES)
    for accepted in (circuits, red_team, governance, harness):
        proposals.decide(organizer, accepted, True, "Welcome aboard.")
    proposals.toggle_vote(users["emeka"], harness)
    proposals.toggle_vote(users["amara"], harness)
    proposals.toggle_vote(users["emeka"], red_team)
    proposals.record_attendance(organizer, red_team, users["emeka"])
    materials.store_upload(users["amara"], circuits, "sparse-circuits-slides.pdf", io.BytesIO(_slides(
        "Sparse feature circuits", ["Refusal traced through 40k features", "What we cannot explain yet"])))
    materials.store_upload(users["bruno"], red_team, "red-team-notes.pdf", io.BytesIO(_slides(
        "Red-teaming results", ["Three failures we did not expect", "Mitigations that held"])))
    return {"circuits": circuits, "red_team": red_team, "governance": governance, "harness": harness}


def _slides(title: str, points: list[str]) -> bytes:
    """A small PDF deck, so downloads (and their watermark) can be tried in the demo."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    deck = canvas.Canvas(buffer, pagesize=landscape(A4))
    for heading in [title, *points]:
        deck.setFont("Helvetica-Bold", 32)
        deck.drawString(60, 420, heading)
        deck.setFont("Helvetica", 16)
        deck.drawString(60, 380, "Demo slide: confidential to the people the speaker chose.")
        deck.showPage()
    deck.save()
    return buffer.getvalue()


def _add_schedule(event: Event, organizer: User, users: dict[str, User], talks: dict) -> None:
    """Three rooms, two days of slots, the accepted talks placed and published; a few sign-ups."""
    lake = schedule.add_room(organizer, event, "Lake Room", 30, closed_door=True)
    garden = schedule.add_room(organizer, event, "Garden Pavilion", 12, closed_door=False)
    schedule.add_room(organizer, event, "Library", 6, closed_door=True)
    day1 = schedule.add_slots(organizer, event, event.starts_on, [time(9), time(10, 30), time(14), time(15, 30)], 75,
                              "Day 1")
    schedule.add_slots(organizer, event, event.starts_on + timedelta(days=1), [time(9), time(10, 30)], 75, "Day 2")
    schedule.place(organizer, talks["circuits"], lake.id, day1[0].id, pinned=True)
    schedule.place(organizer, talks["red_team"], lake.id, day1[1].id)
    schedule.place(organizer, talks["governance"], garden.id, day1[1].id)
    schedule.place(organizer, talks["harness"], garden.id, day1[2].id)
    schedule.publish(organizer, event)
    db.session.flush()
    policy.forget_memo()
    signups.sign_up(users["emeka"], talks["red_team"])
    signups.sign_up(users["amara"], talks["harness"])
