"""No page's query count grows with the data: each page is measured small and large."""

from __future__ import annotations

import pytest

from tests.helpers import counting, login_as, make_candidate, make_event, make_participant, make_user
from workshop.extensions import db
from workshop.models import (
    CandidateStatus,
    CandidateTag,
    Material,
    MaterialAccess,
    Proposal,
    ProposalSpeaker,
    ProposalStatus,
    Tier,
    Vote,
    Vouch,
)
from workshop.services import audit

S = CandidateStatus


def add_talks(event, speaker, voter, n: int, offset: int) -> None:
    """Talks of every tier, each with speakers, a vote and two materials with a download logged."""
    tiers = list(Tier)
    for i in range(offset, offset + n):
        proposal = Proposal(event_id=event.id, title=f"Talk {i}", tier=tiers[i % len(tiers)],
                            status=ProposalStatus.ACCEPTED, public_id=f"talk{i:012d}")
        proposal.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
        db.session.add(proposal)
        db.session.flush()
        db.session.add(Vote(proposal_id=proposal.id, user_id=voter.id))
        for j in range(2):
            material = Material(proposal_id=proposal.id, filename=f"s{j}.pdf", content_type="application/pdf",
                                size=10, sha256="0" * 64, storage_key=f"key{i:08d}x{j}{'k' * 20}")
            db.session.add(material)
            db.session.flush()
            db.session.add(MaterialAccess(material_id=material.id, user_id=voter.id, allowed=True, reason="x"))
    db.session.commit()


def populate(event, organizer, voucher, n: int, offset: int) -> None:
    add_talks(event, organizer, voucher, max(n // 5, 1), offset)
    statuses = list(S)
    for i in range(offset, offset + n):
        candidate = make_candidate(event, f"person{i}@example.org", statuses[i % len(statuses)])
        db.session.add(CandidateTag(candidate_id=candidate.id, tag=f"tag{i % 3}"))
        db.session.add(Vouch(candidate_id=candidate.id, user_id=voucher.id, note="Vouched for."))
        audit.record(organizer, event, "add candidate", f"candidate {candidate.email}")
    db.session.commit()


PAGES = [
    ("organizer", "/e/retreat/manage/invites/"),
    ("organizer", "/e/retreat/manage/invites/?sort=name&tag=tag1"),
    ("organizer", "/e/retreat/manage/"),
    ("organizer", "/e/retreat/manage/audit"),
    ("organizer", "/e/retreat/manage/agreement"),
    ("organizer", "/e/retreat/manage/invites/export.csv"),
    ("attendee", "/e/retreat/people"),
    ("attendee", "/"),
    ("admin", "/admin/"),
    ("organizer", "/e/retreat/proposals/"),
    ("attendee", "/e/retreat/proposals/"),
    ("attendee", "/e/retreat/proposals/?q=talk"),
    ("organizer", "/e/retreat/proposals/export.csv"),
    ("organizer", "/e/retreat/proposals/talk000000000000"),
    ("attendee", "/e/retreat/proposals/talk000000000000"),
]


@pytest.mark.parametrize("role, url", PAGES)
def test_query_count_does_not_grow_with_the_data(client, role, url):
    organizer = make_user("org@example.org")
    admin = make_user("admin@example.org", admin=True)
    event = make_event("retreat", organizers=[organizer], capacity=500)
    attendee = make_participant(event, "attendee@example.org")
    users = {"organizer": organizer, "attendee": attendee, "admin": admin}
    login_as(client, users[role])

    populate(event, organizer, attendee, 5, 0)
    for i in range(2):
        make_event(f"small{i}", organizers=[organizer])
    client.get(url)  # warm-up: first-request work is not the page's
    with counting() as small:
        assert client.get(url).status_code == 200

    populate(event, organizer, attendee, 60, 100)
    for i in range(10):
        make_event(f"big{i}", organizers=[organizer, admin])
        make_participant(event, f"accepted{i}@example.org")
    with counting() as large:
        assert client.get(url).status_code == 200
    assert len(large) == len(small), "\n".join(large)
