"""Every materials route, requested as every role (the shared world's roles plus the talk's speaker)."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from tests.helpers import ROLES, login_as, make_participant, make_pdf, make_talk
from workshop.extensions import db
from workshop.models import Material, MaterialAccess

ALL_ROLES = (*ROLES, "speaker")


def by_role(anonymous, stranger, unsigned, attendee, other_organizer, organizer, admin, speaker) -> dict:
    return dict(zip(ALL_ROLES, (anonymous, stranger, unsigned, attendee, other_organizer, organizer, admin, speaker)))


# An accepted talk of the attendees tier: the speaker acts on it, organizers read its log, attendees download.
EXPECTED = {
    ("POST", "upload"): by_role(404, 404, 404, 403, 404, 403, 403, 302),
    ("POST", "delete"): by_role(404, 404, 404, 403, 404, 403, 403, 302),
    # The unsigned attendee asking for a page is led to the agreement (302); a material's own link names no
    # event, so there they find nothing.
    ("GET", "log"): by_role(404, 404, 302, 403, 404, 200, 200, 200),
    ("GET", "download"): by_role(404, 404, 404, 200, 404, 200, 200, 200),
    ("GET", "trace"): by_role(404, 404, 403, 403, 404, 200, 200, 403),
}
CASES = [(method, name, role) for (method, name), statuses in EXPECTED.items() for role in ALL_ROLES]


@pytest.fixture
def scene(world, storage_dir, client):
    speaker = make_participant(world.event, "speaker@example.org")
    proposal = make_talk(world.event, speaker)
    login_as(client, speaker)
    response = client.post(f"/e/retreat/proposals/{proposal.public_id}/materials",
                           data={"file": (io.BytesIO(make_pdf()), "slides.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 302
    material = db.session.scalar(sa.select(Material))
    download = MaterialAccess(material_id=material.id, user_id=world.attendee.id, allowed=True, reason="test")
    db.session.add(download)
    db.session.commit()
    users = dict(world.users, speaker=speaker)
    base = f"/e/retreat/proposals/{proposal.public_id}/materials"
    urls = {"upload": base, "delete": f"{base}/{material.public_id}/delete",
            "log": f"{base}/{material.public_id}/log", "download": f"/m/{material.public_id}",
            "trace": f"/e/retreat/manage/trace?download_id={download.download_id}"}
    return users, urls, material.id


@pytest.mark.parametrize(("method", "name", "role"), CASES)
def test_each_route_answers_each_role(client, scene, method, name, role):
    users, urls, material_id = scene
    login_as(client, users[role])
    if method == "GET":
        response = client.get(urls[name])
    else:
        data = {"file": (io.BytesIO(make_pdf()), "more.pdf")} if name == "upload" else {}
        response = client.post(urls[name], data=data, content_type="multipart/form-data")
    expected = EXPECTED[(method, name)][role]
    assert response.status_code == expected, response.get_data(as_text=True)[:500]
    materials = db.session.scalar(sa.select(sa.func.count()).select_from(Material)
                                  .where(Material.deleted_at.is_(None)))
    if name == "upload":
        assert materials == (2 if expected == 302 else 1)
    if name == "delete":
        assert materials == (0 if expected == 302 else 1)
    if name == "download":
        # The scene's own row plus this request's, allowed or not.
        rows = db.session.scalars(sa.select(MaterialAccess).where(MaterialAccess.material_id == material_id)
                                  .order_by(MaterialAccess.id)).all()
        assert len(rows) == 2 and rows[-1].allowed == (expected == 200)
