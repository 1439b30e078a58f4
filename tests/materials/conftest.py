"""A talk with its speaker, attendees and organizer; PDFs to upload; the bytes kept in a fresh folder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from reportlab.pdfgen import canvas

from tests.conftest import login_as, make_event, make_participant, make_user
from workshop.extensions import db
from workshop.models import Attendance, Material, Proposal, ProposalSpeaker, ProposalStatus, Tier


@pytest.fixture
def storage_dir(app, tmp_path, monkeypatch) -> Path:
    root = tmp_path / "materials"
    monkeypatch.setitem(app.config, "MATERIALS_DIR", str(root))
    monkeypatch.setitem(app.config, "STORAGE_URL", "")
    return root


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def make_pdf(text: str = "Secret slide", pages: int = 2) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for number in range(1, pages + 1):
        pdf.drawString(72, 720, f"{text} {number}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_talk(event, speaker, tier: Tier = Tier.ATTENDEES, status: ProposalStatus = ProposalStatus.ACCEPTED,
              **fields) -> Proposal:
    proposal = Proposal(event_id=event.id, title=fields.pop("title", "Early results"), abstract="Work in progress.",
                        tier=tier, status=status, created_by_id=speaker.id, **fields)
    proposal.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
    db.session.add(proposal)
    db.session.commit()
    return proposal


def attend(proposal: Proposal, *people) -> None:
    for person in people:
        db.session.add(Attendance(proposal_id=proposal.id, user_id=person.id))
    db.session.commit()


class Talk:
    """The cast: an organizer, the speaker, two attendees, a stranger, and one accepted talk."""

    def upload_url(self) -> str:
        return f"/e/{self.event.slug}/proposals/{self.proposal.public_id}/materials"

    def detail_url(self) -> str:
        return f"/e/{self.event.slug}/proposals/{self.proposal.public_id}"

    def material_url(self, material: Material, suffix: str = "") -> str:
        return f"{self.upload_url()}/{material.public_id}{suffix}"

    def upload(self, client, data: bytes, filename: str = "slides.pdf", as_user=None):
        login_as(client, as_user or self.speaker)
        return client.post(self.upload_url(), data={"file": (io.BytesIO(data), filename)},
                           content_type="multipart/form-data")

    def upload_ok(self, client, data: bytes, filename: str = "slides.pdf") -> Material:
        response = self.upload(client, data, filename)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        return db.session.scalars(sa.select(Material).order_by(Material.id.desc())).first()


@pytest.fixture
def talk(ctx, storage_dir) -> Talk:
    t = Talk()
    t.organizer = make_user("org@example.org", "Olga Organizer")
    t.event = make_event("retreat", organizers=[t.organizer], capacity=20)
    t.speaker = make_participant(t.event, "speaker@example.org")
    t.speaker.name = "Sofía Speaker"
    t.ada = make_participant(t.event, "ada@example.org")
    t.ada.name = "Ada Lovelace"
    t.bob = make_participant(t.event, "bob@example.org")
    t.bob.name = "Bob Brown"
    t.unsigned = make_participant(t.event, "unsigned@example.org", signed=False)
    t.stranger = make_user("stranger@example.org", "Sam Stranger")
    db.session.commit()
    t.proposal = make_talk(t.event, t.speaker)
    t.storage_dir = storage_dir
    return t
