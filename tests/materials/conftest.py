"""A talk with its speaker, attendees and organizer; PDFs to upload; the bytes kept in a fresh folder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import login_as, make_event, make_participant, make_talk, make_user
from workshop.extensions import db
from workshop.models import Material


@pytest.fixture
def storage_dir(app, tmp_path, monkeypatch) -> Path:
    root = tmp_path / "materials"
    monkeypatch.setitem(app.config, "MATERIALS_DIR", str(root))
    monkeypatch.setitem(app.config, "STORAGE_URL", "")
    return root


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
