"""A view-only material stays view-only through export and import, with the pages its readers were shown."""

from __future__ import annotations

import sqlalchemy as sa

from tests.helpers import make_event, make_participant, make_talk, make_user, wipe_database
from workshop.extensions import db
from workshop.models import Material, MaterialAccess, PageView, utcnow
from workshop.services.transfer import export_event, import_event


def build() -> None:
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer])
    speaker = make_participant(event, "speaker@lab.org")
    reader = make_participant(event, "reader@example.org")
    talk = make_talk(event, speaker, title="Sparse circuits")
    material = Material(proposal_id=talk.id, uploaded_by_id=speaker.id, filename="slides.pdf",
                        content_type="application/pdf", size=1234, sha256="b" * 64, storage_key="k" * 32,
                        view_only=True, reader_pages=12)
    db.session.add(material)
    db.session.flush()
    now = utcnow()
    for page, seconds in ((1, 40), (2, 0)):
        access = MaterialAccess(material_id=material.id, user_id=reader.id, allowed=True, reason="tier attendees",
                                ip="203.0.113.4", created_at=now)
        db.session.add(PageView(access=access, material_id=material.id, user_id=reader.id, page=page, started_at=now,
                                seconds=seconds))
    db.session.add(MaterialAccess(material_id=material.id, user_id=reader.id, allowed=False, reason="view only",
                                  created_at=now))
    db.session.commit()


def test_view_only_and_page_views_round_trip(ctx):
    build()
    before = export_event("retreat")
    (material,) = before["proposals"][0]["materials"]
    assert (material["view_only"], material["reader_pages"]) == (True, 12)
    assert [(a.get("page"), a.get("seconds")) for a in material["accesses"]] == [(1, 40), (2, 0), (None, None)]

    wipe_database()
    import_event(before)
    db.session.commit()
    assert export_event("retreat") | {"exported_at": None} == before | {"exported_at": None}
    restored = db.session.scalar(sa.select(Material))
    assert restored.view_only and restored.reader_pages == 12
    views = db.session.execute(
        sa.select(PageView.page, PageView.seconds, PageView.started_at == MaterialAccess.created_at)
        .join(MaterialAccess, PageView.access_id == MaterialAccess.id).order_by(PageView.page)).all()
    assert [tuple(v) for v in views] == [(1, 40, True), (2, 0, True)]


def test_files_from_before_view_only_import_as_downloadable(ctx):
    build()
    data = export_event("retreat")
    (material,) = data["proposals"][0]["materials"]
    for key in ("view_only", "reader_pages"):
        del material[key]
    for access in material["accesses"]:
        access.pop("page", None), access.pop("seconds", None)
    wipe_database()
    import_event(data)
    db.session.commit()
    assert not db.session.scalar(sa.select(Material)).view_only
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PageView)) == 0
