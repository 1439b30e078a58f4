"""Consent and audience as tables: which changes widen a talk, whose consent a widening waits for, and
who the talk reaches (and why) by tier, release and role.

The audience is also checked against the predicates it stands for: for every talk of a world that
holds every tier, release and exclusion, each person's row must say exactly what can_view_proposal and
material_decision answer for that person, asked one at a time, with nothing remembered between them.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.helpers import counting, make_event, make_participant, make_user
from workshop import policy
from workshop.extensions import db
from workshop.models import (
    Attendance,
    CandidateStatus,
    Material,
    Proposal,
    ProposalAccess,
    ProposalExclusion,
    ProposalSpeaker,
    ProposalStatus,
    TermsAcceptance,
    Tier,
    User,
    utcnow,
)

T, F = True, False
P, A, S, R = Tier.PUBLIC, Tier.ATTENDEES, Tier.SESSION, Tier.RESTRICTED
W = policy.Why

# --- which changes widen ------------------------------------------------------------------------
#
# (tier in force, release scheduled (tier, days ahead) or None) → (new tier, new release or None) → widens?
TIER_CHANGES = [
    (R, None, S, None, T),  # a wider tier now
    (A, None, P, None, T),
    (A, None, R, None, F),  # narrower
    (P, None, S, None, F),
    (R, None, R, (A, 5), T),  # a release where none was
    (A, None, R, (A, 5), T),  # narrower now, but scheduled to open again: the release needs consent
    (R, (A, 5), R, None, F),  # cancelling a release narrows
    (R, (A, 5), R, (A, 9), F),  # the same release, later
    (R, (A, 5), R, (S, 5), F),  # a narrower release
    (R, (A, 5), R, (A, 2), T),  # the same release, sooner
    (R, (A, 5), R, (P, 5), T),  # a wider release
    (R, (A, 5), S, (A, 5), T),  # a wider tier now, the release kept
    (S, (A, 5), R, (A, 5), F),  # narrower now, the release kept as it was
]


@pytest.fixture
def talk(ctx):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer])
    speaker = make_participant(event, "speaker@example.org")
    proposal = Proposal(event_id=event.id, title="Early results", tier=A, status=ProposalStatus.ACCEPTED)
    proposal.speakers = [ProposalSpeaker(user_id=speaker.id, is_lead=True, confirmed=True)]
    db.session.add(proposal)
    db.session.commit()
    return proposal


@pytest.mark.parametrize("tier, release, new_tier, new_release, widens", TIER_CHANGES)
def test_which_tier_changes_widen(talk, tier, release, new_tier, new_release, widens):
    now = utcnow()
    talk.tier = tier
    if release:
        talk.release_tier, talk.release_at = release[0], now + timedelta(days=release[1])
    release_tier, release_at = (new_release[0], now + timedelta(days=new_release[1])) if new_release else (None, None)
    assert policy.tier_change_widens(talk, new_tier, release_tier, release_at, now) is widens


def test_a_release_already_passed_counts_as_the_tier_in_force(talk):
    """A release whose date has passed is the tier now: going back to it is no widening, and a new release
    is judged as if none were scheduled."""
    now = utcnow()
    talk.tier, talk.release_tier, talk.release_at = R, A, now - timedelta(days=1)
    assert policy.tier_change_widens(talk, A, None, None, now) is False
    assert policy.tier_change_widens(talk, S, P, now + timedelta(days=1), now) is True


# (named before, named after, excluded before, excluded after) → widens?
ACCESS_CHANGES = [
    ({"a"}, {"a", "b"}, set(), set(), T),  # someone named
    ({"a", "b"}, {"a"}, set(), set(), F),  # a name taken off
    (set(), set(), {"lab.org"}, set(), T),  # an exclusion lifted
    (set(), set(), {"lab.org"}, {"lab.org", "x@y.org"}, F),  # one more excluded
    ({"a"}, {"b"}, set(), set(), T),  # one name for another: someone new sees it
    (set(), set(), {"lab.org"}, {"cs.lab.org"}, T),  # a narrower domain lets the rest of lab.org in
    ({"a"}, {"a"}, {"lab.org"}, {"lab.org"}, F),
]


@pytest.mark.parametrize("named_before, named_after, excluded_before, excluded_after, widens", ACCESS_CHANGES)
def test_which_access_changes_widen(named_before, named_after, excluded_before, excluded_after, widens):
    assert policy.access_change_widens(named_before, named_after, excluded_before, excluded_after) is widens


# --- whose consent a widening waits for -----------------------------------------------------------
#
# The talk's speakers: the lead, a confirmed co-speaker, an invited one, and a confirmed one since revoked.
# (who asks, speakers on the talk) → whose consent it waits for (by name), whether it waits at all.
CONSENT_TABLE = [
    ("lead", ("lead",), (), F),  # one speaker: they are the consent
    ("lead", ("lead", "co"), ("co",), T),
    ("co", ("lead", "co"), ("lead",), T),
    ("lead", ("lead", "co", "third"), ("co", "third"), T),
    ("lead", ("lead", "invited"), (), F),  # an invited co-speaker has no say until they confirm
    ("lead", ("lead", "revoked"), (), F),  # a revoked speaker cannot answer, so nobody waits for them
    ("organizer", ("lead",), ("lead",), T),  # speakers own their talk: an organizer's widening waits
    ("organizer", ("lead", "co"), ("lead", "co"), T),
    ("organizer", ("lead", "revoked"), ("lead",), T),
]


@pytest.fixture
def cast(ctx):
    organizer = make_user("org@example.org")
    event = make_event("retreat", organizers=[organizer])
    people = {"organizer": organizer}
    for name in ("lead", "co", "third", "invited", "revoked"):
        status = CandidateStatus.REVOKED if name == "revoked" else CandidateStatus.ACCEPTED
        people[name] = make_participant(event, f"{name}@example.org", status)
    return event, people


def talk_with(event, people, speakers, tier=A, **fields) -> Proposal:
    proposal = Proposal(event_id=event.id, title="Early results", tier=tier, status=ProposalStatus.ACCEPTED, **fields)
    proposal.speakers = [ProposalSpeaker(user_id=people[name].id, is_lead=name == "lead",
                                         confirmed=name != "invited") for name in speakers]
    db.session.add(proposal)
    db.session.commit()
    policy.forget_memo()
    return proposal


@pytest.mark.parametrize("asker, speakers, awaited, waits", CONSENT_TABLE)
def test_whose_consent_a_widening_waits_for(cast, asker, speakers, awaited, waits):
    event, people = cast
    proposal = talk_with(event, people, speakers)
    assert [u.email for u in policy.consent_awaited_from(people[asker], proposal)] == [
        people[name].email for name in awaited]
    assert policy.widening_waits(people[asker], proposal) is waits


# --- the audience, by tier and role ----------------------------------------------------------------
#
# An accepted talk with no exclusion, terms or release, on an event whose public page is off:
# role → (reads now, opens now) for each tier P, A, S, R ("" where the person does not).
AUDIENCE_TABLE = {
    "speaker": ((W.SPEAKER,) * 4, (W.SPEAKER,) * 4),
    "cospeaker": ((W.SPEAKER,) * 4, (W.SPEAKER,) * 4),
    "invited": ((W.COSPEAKER,) * 4, (W.ATTENDEE, W.ATTENDEE, "", "")),
    "attendee": ((W.ATTENDEE, W.ATTENDEE, W.ATTENDEE, ""), (W.ATTENDEE, W.ATTENDEE, "", "")),
    "attended": ((W.ATTENDEE, W.ATTENDEE, W.ATTENDEE, ""), (W.ATTENDEE, W.ATTENDEE, W.ATTENDED, "")),
    "named": ((W.ATTENDEE, W.ATTENDEE, W.ATTENDEE, W.NAMED), (W.ATTENDEE, W.ATTENDEE, "", W.NAMED)),
    "organizer": ((W.ORGANIZER,) * 4, (W.ORGANIZER, W.ORGANIZER, "", "")),
    "admin": ((W.ADMIN,) * 4, (W.ADMIN, W.ADMIN, "", "")),
    "unsigned": (("",) * 4, ("",) * 4),
    "waitlisted": (("",) * 4, ("",) * 4),
    "revoked": (("",) * 4, ("",) * 4),
    "other_organizer": (("",) * 4, ("",) * 4),
}
TIERS = (P, A, S, R)


@pytest.fixture
def audience_world(ctx):
    organizer = make_user("org@example.org", "Olga Organizer")
    other_organizer = make_user("other@example.org")
    admin = make_user("admin@example.org", admin=True)
    event = make_event("retreat", organizers=[organizer])
    make_event("elsewhere", organizers=[other_organizer])
    people = {"organizer": organizer, "other_organizer": other_organizer, "admin": admin}
    for role, status, signed in (("speaker", CandidateStatus.ACCEPTED, T), ("cospeaker", CandidateStatus.ACCEPTED, T),
                                 ("invited", CandidateStatus.ACCEPTED, T), ("attendee", CandidateStatus.ACCEPTED, T),
                                 ("attended", CandidateStatus.ACCEPTED, T), ("named", CandidateStatus.ACCEPTED, T),
                                 ("unsigned", CandidateStatus.ACCEPTED, F),
                                 ("waitlisted", CandidateStatus.WAITLISTED, T),
                                 ("revoked", CandidateStatus.REVOKED, T)):
        people[role] = make_participant(event, f"{role}@example.org", status, signed=signed)
    return event, people


def add_audience_talk(event, people, tier, **fields) -> Proposal:
    proposal = Proposal(event_id=event.id, title=f"Talk {tier.value}", tier=tier,
                        status=fields.pop("status", ProposalStatus.ACCEPTED), **fields)
    proposal.speakers = [ProposalSpeaker(user_id=people["speaker"].id, is_lead=True, confirmed=True),
                         ProposalSpeaker(user_id=people["cospeaker"].id, confirmed=True),
                         ProposalSpeaker(user_id=people["invited"].id, confirmed=False)]
    db.session.add(proposal)
    db.session.flush()
    db.session.add(ProposalAccess(proposal_id=proposal.id, user_id=people["named"].id))
    for role in ("attended", "revoked"):
        db.session.add(Attendance(proposal_id=proposal.id, user_id=people[role].id))
    db.session.commit()
    policy.forget_memo()
    return proposal


def rows(audience) -> dict[int, policy.AudienceMember]:
    return {member.user.id: member for member in audience.members}


@pytest.mark.parametrize("tier_index, tier", list(enumerate(TIERS)))
def test_the_audience_follows_the_table(audience_world, tier_index, tier):
    event, people = audience_world
    proposal = add_audience_talk(event, people, tier)
    members = rows(policy.talk_audience(proposal))
    wrong = []
    for role, (reads, opens) in AUDIENCE_TABLE.items():
        member = members.get(people[role].id)
        got = (member.reads_now, member.opens_now) if member else ("", "")
        if got != (reads[tier_index], opens[tier_index]):
            wrong.append(f"{role}: got {got}, expected {(reads[tier_index], opens[tier_index])}")
    assert not wrong, "\n".join(wrong)


def test_a_public_talk_reaches_anyone_once_the_public_page_is_on(audience_world):
    event, people = audience_world
    event.public_page = True
    proposal = add_audience_talk(event, people, P)
    audience = policy.talk_audience(proposal)
    assert audience.anyone_now
    # Those the event knows but who may not see its content read the talk as anyone does, on the public page.
    assert rows(audience)[people["waitlisted"].id].opens_now == W.PUBLIC
    assert people["revoked"].id not in rows(audience)  # revocation beats even the public page


def test_after_a_scheduled_release(audience_world):
    """Who reads it and opens it after the release is asked of the policy at the release's date."""
    event, people = audience_world
    release_at = utcnow() + timedelta(days=3)
    proposal = add_audience_talk(event, people, R, release_tier=S, release_at=release_at)
    audience = policy.talk_audience(proposal)
    members = rows(audience)
    assert audience.release_at == release_at and audience.release_tier == S
    attendee, attended, named = (members.get(people[r].id) for r in ("attendee", "attended", "named"))
    assert attendee.reads_now == "" and attendee.reads_later == W.ATTENDEE and attendee.opens_later == ""
    assert attended.opens_now == "" and attended.opens_later == W.ATTENDED
    assert named.opens_now == W.NAMED and named.opens_later == ""  # a release to session narrows the materials
    assert audience.counts["reads_later"] > audience.counts["reads_now"]


def test_the_excluded_are_listed_with_their_rule_and_contradictions_are_flagged(audience_world):
    event, people = audience_world
    outsider = make_user("rival@elsewhere.org")
    stranger = make_user("someone@lab.org")  # neither in the event nor excluded by name: not the event's business
    named_rival = make_participant(event, "ada@cs.lab.org")
    proposal = add_audience_talk(event, people, R)
    db.session.add_all([ProposalAccess(proposal_id=proposal.id, user_id=named_rival.id),
                        ProposalExclusion(proposal_id=proposal.id, domain="lab.org"),
                        ProposalExclusion(proposal_id=proposal.id, domain="nobody.example"),
                        ProposalExclusion(proposal_id=proposal.id, user_id=people["attendee"].id),
                        ProposalExclusion(proposal_id=proposal.id, user_id=people["cospeaker"].id),
                        ProposalExclusion(proposal_id=proposal.id, user_id=outsider.id)])
    db.session.commit()
    policy.forget_memo()
    audience = policy.talk_audience(proposal)
    members = rows(audience)
    assert members[named_rival.id].excluded_by == "domain lab.org"
    assert members[named_rival.id].reads_now == ""
    assert any("named, but domain lab.org excludes them" in c for c in members[named_rival.id].conflicts)
    assert members[people["attendee"].id].excluded_by == "excluded by name"
    assert members[outsider.id].excluded_by == "excluded by name"  # listed though not in the event
    assert stranger.id not in members
    # An exclusion that names a speaker does not reach them, and that is flagged.
    cospeaker = members[people["cospeaker"].id]
    assert cospeaker.reads_now == W.SPEAKER and not cospeaker.excluded_by
    assert cospeaker.conflicts and "matches a speaker" in cospeaker.conflicts[0]
    assert members[people["organizer"].id].reads_now == W.ORGANIZER
    assert audience.idle_rules == ["domain nobody.example"]
    assert audience.counts["conflicts"] == len(audience.conflicts) == 2


# --- the audience is the predicates' own answer ------------------------------------------------------

RELEASES = ("none", "future")
EXCLUSIONS = ("none", "person", "domain")
STATUSES = (ProposalStatus.ACCEPTED, ProposalStatus.SUBMITTED)


def test_the_audience_agrees_with_the_predicates_person_by_person(audience_world):
    """Every talk of every tier × release × exclusion × status: each person's row is exactly what the
    predicates answer for them, asked one by one with nothing remembered, now and at the release date."""
    event, people = audience_world
    event.public_page = True
    make_participant(event, "rival@lab.org")  # the domain exclusion matches someone
    with_terms = make_participant(event, "careful@example.org")
    now = utcnow()
    talks = []
    for tier in TIERS:
        for release in RELEASES:
            for exclusion in EXCLUSIONS:
                for status in STATUSES:
                    fields = {"status": status, "extra_terms": "Do not cite." if exclusion == "none" else ""}
                    if release == "future" and tier != P:
                        fields.update(release_tier=TIERS[TIERS.index(tier) - 1], release_at=now + timedelta(days=2))
                    proposal = add_audience_talk(event, people, tier, **fields)
                    if exclusion == "person":
                        db.session.add(ProposalExclusion(proposal_id=proposal.id, user_id=people["attendee"].id))
                        db.session.add(ProposalExclusion(proposal_id=proposal.id, user_id=people["named"].id))
                    elif exclusion == "domain":
                        db.session.add(ProposalExclusion(proposal_id=proposal.id, domain="lab.org"))
                    if proposal.extra_terms:
                        db.session.add(TermsAcceptance(proposal_id=proposal.id, user_id=with_terms.id,
                                                       terms_hash=policy.terms_hash(proposal)))
                    db.session.add(Material(proposal_id=proposal.id, filename="s.pdf", content_type="application/pdf",
                                            size=1, sha256="0" * 64, storage_key=secrets.token_hex(16)))
                    talks.append(proposal)
    db.session.commit()
    materials = {m.proposal_id: m for m in db.session.scalars(sa.select(Material))}
    everyone = db.session.scalars(sa.select(User)).all()
    known = {u.id for u in everyone if u.id != people["other_organizer"].id}
    wrong = []
    for proposal in talks:
        policy.forget_memo()
        audience = policy.talk_audience(proposal, now)
        members = rows(audience)
        label = f"{proposal.tier.value}/{proposal.release_tier}/{proposal.status.value}/{proposal.id}"
        for user in everyone:
            member = members.get(user.id)
            for moment, reads_attr, opens_attr in ((now, "reads_now", "opens_now"),
                                                   (proposal.release_at, "reads_later", "opens_later")):
                if moment is None:
                    continue
                policy.forget_memo()
                reads = policy.can_view_proposal(user, proposal, moment)
                policy.forget_memo()
                opens = policy.material_decision(user, materials[proposal.id], moment).allowed
                if member is None and user.id not in known:
                    # Someone the event does not know: reached only as anyone is, by the public page, and
                    # only once they accept the talk's terms, if it has some.
                    anyone = audience.anyone_now if moment == now else audience.anyone_later
                    got = (False, anyone and not proposal.extra_terms)
                else:
                    got = (bool(member and getattr(member, reads_attr)),
                           bool(member and getattr(member, opens_attr)))
                if got != (reads, opens):
                    wrong.append(f"{label} {user.email} {reads_attr}: got {got}, expected {(reads, opens)}")
    assert not wrong, f"{len(wrong)} wrong:\n" + "\n".join(wrong[:40])


def test_the_audience_takes_a_fixed_number_of_queries(audience_world):
    event, people = audience_world
    proposal = add_audience_talk(event, people, S, release_tier=A, release_at=utcnow() + timedelta(days=1),
                                 extra_terms="Do not cite.")
    with counting() as small:
        policy.talk_audience(proposal)
    for i in range(30):
        user = make_participant(event, f"more{i}@example.org")
        db.session.add(Attendance(proposal_id=proposal.id, user_id=user.id))
        db.session.add(ProposalAccess(proposal_id=proposal.id, user_id=user.id))
    db.session.add(ProposalExclusion(proposal_id=proposal.id, domain="lab.org"))
    db.session.commit()
    policy.forget_memo()
    with counting() as large:
        audience = policy.talk_audience(proposal)
    assert audience.counts["reads_now"] >= 30
    assert len(large) == len(small), "\n".join(large)


def test_the_terms_hold_back_the_materials_when_they_would_open(audience_world):
    """A restricted talk with terms, released to attendees later: the organizer is held back by the terms only
    after the release (before it, the tier keeps them out anyway); the named person already now."""
    event, people = audience_world
    proposal = add_audience_talk(event, people, R, release_tier=A, release_at=utcnow() + timedelta(days=1),
                                 extra_terms="Do not cite.")
    members = rows(policy.talk_audience(proposal))
    organizer, named = members[people["organizer"].id], members[people["named"].id]
    assert (organizer.opens_now, organizer.terms_now, organizer.opens_later, organizer.terms_later) == ("", F, "", T)
    assert (named.opens_now, named.terms_now) == ("", T)
    db.session.add(TermsAcceptance(proposal_id=proposal.id, user_id=people["named"].id,
                                   terms_hash=policy.terms_hash(proposal)))
    db.session.commit()
    policy.forget_memo()
    named = rows(policy.talk_audience(proposal))[people["named"].id]
    assert (named.opens_now, named.terms_now, named.opens_later) == (W.NAMED, F, W.ATTENDEE)
