"""Proposals travel with an exported event: export → empty database → import → the same export."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import make_event, make_participant, make_user, wipe_database
from workshop.extensions import db
from workshop.models import (
    Attendance,
    Material,
    MaterialAccess,
    Proposal,
    ProposalAccess,
    ProposalExclusion,
    ProposalSpeaker,
    ProposalStatus,
    TermsAcceptance,
    Tier,
    TierChange,
    Vote,
    utcnow,
)
from workshop.services.transfer import export_event, import_event


def build() -> None:
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer])
    speaker = make_participant(event, "speaker@lab.org")
    fan = make_participant(event, "fan@example.org")
    proposal = Proposal(event_id=event.id, title="Sparse circuits", abstract="*Early* results.", tier=Tier.RESTRICTED,
                        release_tier=Tier.ATTENDEES, release_at=utcnow() + timedelta(days=3), chatham_house=True,
                        extra_terms="Do not cite.", status=ProposalStatus.ACCEPTED, decision_note="Welcome.",
                        created_by_id=speaker.id)
    db.session.add(proposal)
    db.session.flush()
    db.session.add_all([
        ProposalSpeaker(proposal_id=proposal.id, user_id=speaker.id, is_lead=True, confirmed=True),
        ProposalSpeaker(proposal_id=proposal.id, user_id=fan.id, is_lead=False, confirmed=False),
        ProposalAccess(proposal_id=proposal.id, user_id=fan.id),
        ProposalExclusion(proposal_id=proposal.id, domain="rival.org"),
        ProposalExclusion(proposal_id=proposal.id, user_id=organizer.id),
        TierChange(proposal_id=proposal.id, actor_id=speaker.id, from_tier=Tier.ATTENDEES, to_tier=Tier.RESTRICTED),
        Vote(proposal_id=proposal.id, user_id=fan.id),
        Attendance(proposal_id=proposal.id, user_id=fan.id, source="checkin"),
        TermsAcceptance(proposal_id=proposal.id, user_id=fan.id, terms_hash="a" * 64, ip="203.0.113.4"),
    ])
    material = Material(proposal_id=proposal.id, uploaded_by_id=speaker.id, filename="slides.pdf",
                        content_type="application/pdf", size=1234, sha256="b" * 64, storage_key="k" * 32,
                        pages=3, removed="JavaScript", expires_at=datetime(2030, 1, 1, 9, 0))
    proposal.only_stamped = True
    db.session.add(material)
    db.session.flush()
    db.session.add(MaterialAccess(material_id=material.id, user_id=fan.id, allowed=True, reason="tier attendees",
                                  ip="203.0.113.4"))
    db.session.add(Proposal(event_id=event.id, title="Withdrawn idea", status=ProposalStatus.WITHDRAWN))
    db.session.commit()


def normalized(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "exported_at"}


def test_proposals_round_trip(ctx):
    build()
    before = export_event("retreat")
    [first, second] = before["proposals"]
    assert first["title"] == "Sparse circuits" and first["materials"][0]["accesses"][0]["user"] == "fan@example.org"
    assert {x["domain"] for x in first["exclusions"]} == {"rival.org", None}
    assert second["status"] == "withdrawn"
    assert first["only_stamped"] is True and second["only_stamped"] is False
    assert first["materials"][0]["expires_at"] == "2030-01-01T09:00:00+00:00"
    assert (first["materials"][0]["state"], first["materials"][0]["pages"]) == ("ready", 3)

    wipe_database()
    import_event(before)
    db.session.commit()
    assert normalized(export_event("retreat")) == normalized(before)
    for model in (Vote, Attendance, TermsAcceptance, MaterialAccess, ProposalExclusion, TierChange):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model)) >= 1, model


def test_files_from_before_prepared_uploads_import_as_ready_and_open(ctx):
    build()
    data = export_event("retreat")
    for proposal in data["proposals"]:
        del proposal["only_stamped"]
        for material in proposal["materials"]:
            for key in ("state", "refusal", "removed", "pages", "expires_at"):
                del material[key]
    wipe_database()
    import_event(data)
    db.session.commit()
    material = db.session.scalars(sa.select(Material)).one()
    assert (material.state.value, material.expires_at, material.pages) == ("ready", None, None)
    assert not any(db.session.scalars(sa.select(Proposal.only_stamped)))


def test_version_1_files_still_import(ctx):
    build()
    data = export_event("retreat")
    data["version"] = 1
    del data["proposals"]
    wipe_database()
    event = import_event(data)
    db.session.commit()
    assert event.slug == "retreat"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Proposal)) == 0


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.update(tier="secret"), "should be one of"),
    (lambda p: p["exclusions"].append({"user": None, "domain": None}), "exactly one person or one domain"),
    (lambda p: p["speakers"].append({"user": "not an email", "is_lead": False, "confirmed": False}), "not valid"),
])
def test_a_bad_proposal_is_refused_before_anything_is_written(ctx, damage, message):
    build()
    data = export_event("retreat")
    damage(data["proposals"][0])
    wipe_database()
    with pytest.raises(ValueError, match=message):
        import_event(data)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Proposal)) == 0
