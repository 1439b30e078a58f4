"""The invite list from a person's first proposal to their answer, through the web."""

import re

import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from tests.helpers import login_as, make_candidate, make_event, make_user, open_link
from workshop.extensions import db
from workshop.models import Candidate, CandidateStatus, EventStatus, Invitation

S = CandidateStatus


def invitation_link(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://conclave\.test(/invitation/\S+)", body).group(1)


def test_add_invite_accept_sign_and_see_event(client, sent):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], status=EventStatus.DRAFT)
    login_as(client, organizer)

    response = client.post("/e/retreat/manage/invites/new",
                           data={"email": "Grace@Example.org", "name": "Grace Hopper", "approved": "y"})
    assert response.status_code == 302
    grace = db.session.scalar(sa.select(Candidate).where(Candidate.email == "grace@example.org"))
    assert grace.status == S.APPROVED

    response = client.post("/e/retreat/manage/invites/bulk", data={"action": "invite", "ids": [grace.id]})
    assert response.status_code == 302
    db.session.refresh(grace)
    assert grace.status == S.INVITED
    assert event.status == EventStatus.INVITING  # the first wave opens a draft event
    [message] = sent.to("grace@example.org")
    link = invitation_link(message)
    token = link.rsplit("/", 1)[1]
    assert db.session.scalar(sa.select(Invitation.token_hash)) != token  # only the hash is kept

    login_as(client, None)
    assert client.get(open_link(client, link)).status_code == 200
    response = client.post(open_link(client, link), data={"answer": "accept"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/e/retreat/agreement")
    db.session.refresh(grace)
    assert grace.status == S.ACCEPTED and grace.user is not None

    # Signed in as Grace now, but nothing past the landing page until she signs: a deep link leads her to
    # the agreement, and signing it takes her back there.
    response = client.get("/e/retreat/people")
    assert response.status_code == 302
    assert response.headers["Location"] == "/e/retreat/agreement?next=/e/retreat/people"
    assert "sign the agreement" in client.get("/e/retreat/").get_data(as_text=True).lower()
    response = client.post("/e/retreat/agreement?next=/e/retreat/people",
                           data={"typed_name": "Grace Hopper", "agree": "y"})
    assert response.status_code == 302 and response.headers["Location"] == "/e/retreat/people"
    assert client.get("/e/retreat/people").status_code == 200

    # The link was single-use.
    login_as(client, None)
    assert client.get(open_link(client, link)).status_code == 410


def test_full_event_waitlists_and_a_decline_promotes(client, sent):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer], capacity=1)
    login_as(client, organizer)
    people = [make_candidate(event, f"p{i}@example.org", S.APPROVED) for i in range(3)]
    client.post("/e/retreat/manage/invites/bulk", data={"action": "invite", "ids": [p.id for p in people]})
    links = {p.email: invitation_link(sent.to(p.email)[0]) for p in people}

    login_as(client, None)
    client.post(open_link(client, links["p0@example.org"]), data={"answer": "accept"})
    login_as(client, None)
    client.post(open_link(client, links["p1@example.org"]), data={"answer": "accept"})
    login_as(client, None)
    client.post(open_link(client, links["p2@example.org"]), data={"answer": "accept"})
    statuses = {c.email: c.status for c in db.session.scalars(sa.select(Candidate))}
    assert statuses == {"p0@example.org": S.ACCEPTED, "p1@example.org": S.WAITLISTED, "p2@example.org": S.WAITLISTED}

    # p2 is signed in now; p0 gives up the seat, and p1 (first on the waitlist) gets it, by email.
    p0 = db.session.scalar(sa.select(Candidate).where(Candidate.email == "p0@example.org"))
    login_as(client, p0.user)
    assert client.post("/e/retreat/withdraw").status_code == 302
    statuses = {c.email: c.status for c in db.session.scalars(sa.select(Candidate))}
    assert statuses["p0@example.org"] == S.DECLINED
    assert statuses["p1@example.org"] == S.ACCEPTED
    assert statuses["p2@example.org"] == S.WAITLISTED
    assert any("seat opened" in m["Subject"] for m in sent.to("p1@example.org"))


def test_the_import_button_imports_as_a_browser_sends_it(client):
    """A browser sends every field of the preview form, then the pressed button's name and value."""
    organizer = make_user("org@example.org")
    make_event("retreat", organizers=[organizer])
    login_as(client, organizer)
    text = "email,name\nada@example.org,Ada\nalan@example.org,Alan\n"
    page = client.post("/e/retreat/manage/invites/import", data={"stage": "upload", "text": text})
    assert page.status_code == 200 and "Import 2 people" in page.get_data(as_text=True)
    form = MultiDict([("stage", "confirm"), ("action", ""), ("text", text), ("action", "import")])
    response = client.post("/e/retreat/manage/invites/import", data=form)
    assert response.status_code == 302
    assert {c.email for c in db.session.scalars(sa.select(Candidate))} == {"ada@example.org", "alan@example.org"}


def test_the_audit_log_names_talks_and_files_by_title(client):
    from workshop.models import Material, Proposal
    from workshop.services import audit

    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer])
    proposal = Proposal(event_id=event.id, title="Sparse circuits", public_id="talk0000000001")
    db.session.add(proposal)
    db.session.flush()
    db.session.add(Material(proposal_id=proposal.id, filename="slides.pdf", content_type="application/pdf", size=1,
                            sha256="0" * 64, storage_key="k" * 20, public_id="file0000000001"))
    audit.record(organizer, event, "propose", "proposal talk0000000001")
    audit.record(organizer, event, "upload material", "material file0000000001")
    audit.record(organizer, event, "invite", "candidate ada@example.org")
    db.session.commit()
    login_as(client, organizer)
    for url in ("/e/retreat/manage/audit", "/e/retreat/manage/"):
        page = client.get(url).get_data(as_text=True)
        assert "talk “Sparse circuits”" in page and "file “slides.pdf” of “Sparse circuits”" in page
        assert "talk0000000001" not in page and "candidate ada@example.org" in page
