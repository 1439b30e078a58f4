"""The proposal and material policy as a table: tier × role × exclusion × revocation × release × status.

One world holds a proposal for every combination of tier, scheduled release (none, future, past),
exclusion (none, the person, their parent email domain) and status, each with one material. Every
role is then asked about every proposal through the predicates, their query twins and the real
routes (list, search, count, export, public page, detail), and the answers are compared with the
rules written out below, which restate SPEC sections 4 and 6. A mismatch names its cell.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from datetime import timedelta
from typing import NamedTuple

import pytest
import sqlalchemy as sa
from flask_login import AnonymousUserMixin

from tests.helpers import login_as, make_event, make_user
from workshop import policy
from workshop.extensions import db
from workshop.models import (
    Agreement,
    AgreementAcceptance,
    Attendance,
    Candidate,
    CandidateStatus,
    EventStatus,
    Material,
    MaterialState,
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
S = ProposalStatus
TIERS = (Tier.PUBLIC, Tier.ATTENDEES, Tier.SESSION, Tier.RESTRICTED)

# --- the rules --------------------------------------------------------------------------------
#
# For an accepted talk with no exclusion, no extra terms, on an event whose public page is on:
#   view      may see title and abstract inside the event (detail, list, search, count)
#   download  may download a material attached to it
# both by the tier in force (public, attendees, session, restricted); then the list page and the
# organizers' export answer with these status codes.
ROLES = {
    #                      view P A S R    download P A S R  list  export
    "anonymous":          ((F, F, F, F), (T, F, F, F), 404, 404),
    "stranger":           ((F, F, F, F), (T, F, F, F), 404, 404),
    # Accepted, agreement not signed: led to the agreement (302) from every page past the landing page.
    "unsigned":           ((F, F, F, F), (T, F, F, F), 302, 403),
    "attendee":           ((T, T, T, F), (T, T, F, F), 200, 403),
    "attended":           ((T, T, T, F), (T, T, T, F), 200, 403),  # attendee who attended the session
    "named":              ((T, T, T, T), (T, T, F, T), 200, 403),  # attendee on the named list
    "speaker":            ((T, T, T, T), (T, T, T, T), 200, 403),
    "cospeaker_invited":  ((T, T, T, T), (T, T, F, F), 200, 403),  # must see the talk to confirm; not a speaker yet
    # Named as co-speaker but has not signed the agreement: nothing past the landing page until they do.
    "cospeaker_unsigned": ((F, F, F, F), (T, F, F, F), 302, 403),
    "organizer":          ((T, T, T, T), (T, T, F, F), 200, 200),  # restricted materials: not for organizers
    "other_organizer":    ((F, F, F, F), (T, F, F, F), 404, 404),
    "admin":              ((T, T, T, T), (T, T, F, F), 200, 200),
    # Revocation beats everything: even a speaker's own talk, even the public tier.
    "attendee_revoked":   ((F, F, F, F), (F, F, F, F), 404, 404),
    "attended_revoked":   ((F, F, F, F), (F, F, F, F), 404, 404),
    "named_revoked":      ((F, F, F, F), (F, F, F, F), 404, 404),
    "speaker_revoked":    ((F, F, F, F), (F, F, F, F), 404, 404),
    "cospeaker_revoked":  ((F, F, F, F), (F, F, F, F), 404, 404),
}
REVOKED = {role for role in ROLES if role.endswith("_revoked")}
# Exclusion beats every tier for everyone but the talk's (confirmed) speakers: the issue says excluded
# people "may never see it", so organizers, admins and invited co-speakers are not spared. An anonymous
# visitor cannot be matched against a person or a domain, and only the public tier reaches them anyway.
EXCLUSION_SPARES = {"speaker", "anonymous"}
# Rejected and withdrawn talks are hidden from attendees and the named list; those who work on the
# talk (speakers, invited co-speakers, organizers) still see it.
SEES_UNLISTED = {"speaker", "cospeaker_invited", "organizer", "admin"}
# Materials open only once the talk is accepted, except to its speakers.
DOWNLOADS_UNACCEPTED = {"speaker"}
# A scheduled release widens the tier once its date has passed.
RELEASE_TO = {Tier.ATTENDEES: Tier.PUBLIC, Tier.SESSION: Tier.ATTENDEES, Tier.RESTRICTED: Tier.SESSION}
RELEASES = ("none", "future", "past")
EXCLUSIONS = ("none", "person", "domain")
# Every signed-in person lives under cs.lab.org; the domain exclusion names the parent lab.org, so
# it only works if subdomains are covered.
EMAIL_DOMAIN, EXCLUDED_DOMAIN = "cs.lab.org", "lab.org"


class Case(NamedTuple):
    tier: Tier
    release: str
    exclusion: str
    status: ProposalStatus

    @property
    def label(self) -> str:
        return f"{self.tier.value}/release:{self.release}/excluded:{self.exclusion}/{self.status.value}"

    @property
    def effective(self) -> Tier:
        return RELEASE_TO[self.tier] if self.release == "past" else self.tier


CASES = [Case(tier, release, exclusion, status)
         for tier in TIERS for release in (("none",) if tier == Tier.PUBLIC else RELEASES)
         for exclusion in EXCLUSIONS for status in (S.SUBMITTED, S.ACCEPTED)]
CASES += [Case(tier, "none", "none", status) for tier in TIERS for status in (S.REJECTED, S.WITHDRAWN)]


def excluded(role: str, case: Case) -> bool:
    return case.exclusion != "none" and role not in EXCLUSION_SPARES


def expect_view(role: str, case: Case) -> bool:
    if excluded(role, case):
        return False
    if case.status not in (S.SUBMITTED, S.ACCEPTED) and role not in SEES_UNLISTED:
        return False
    return ROLES[role][0][TIERS.index(case.effective)]


def expect_public(case: Case) -> bool:
    """On the public page: accepted, and public by the tier in force."""
    return case.status == S.ACCEPTED and case.effective == Tier.PUBLIC


def expect_download(role: str, case: Case) -> bool:
    if excluded(role, case):
        return False
    if case.status != S.ACCEPTED and role not in DOWNLOADS_UNACCEPTED:
        return False
    return ROLES[role][1][TIERS.index(case.effective)]


def expect_on_schedule(role: str, case: Case) -> bool:
    """A released session shows on the person's schedule as itself or as a closed session, except to the
    people excluded from it: an exclusion leaves no trace, not even a placeholder."""
    return expect_view(role, case) or not excluded(role, case)


def expect_loses_seat(role: str, case: Case) -> bool:
    """Excluding someone takes their seat in the session (speakers cannot be excluded from their talk)."""
    return excluded(role, case) and role not in ("anonymous", "speaker", "speaker_revoked")


def expect_visible(role: str, case: Case) -> bool:
    """A refusal is a 403 (visible) only to someone who may know the talk exists; else a 404."""
    if expect_download(role, case) or expect_view(role, case):
        return True
    return expect_public(case) and not excluded(role, case) and role not in REVOKED


# --- the world --------------------------------------------------------------------------------


class World(NamedTuple):
    event: object
    users: dict
    proposals: dict  # Case → Proposal
    materials: dict  # Case → Material
    codes: dict  # Case → the unique code in its title


def code_for(index: int) -> str:
    return f"Q{index:03d}Q"


def build_world() -> World:
    """One event, one user per role, one proposal (with one material) per case, in one commit."""
    organizer = make_user(f"organizer@{EMAIL_DOMAIN}")
    other_organizer = make_user(f"other-organizer@{EMAIL_DOMAIN}")
    event = make_event("retreat", organizers=[organizer], public_page=True)
    make_event("elsewhere", organizers=[other_organizer])
    agreement = db.session.scalar(sa.select(Agreement).where(Agreement.event_id == event.id))
    users: dict[str, User | None] = {"anonymous": None, "organizer": organizer, "other_organizer": other_organizer}
    for role in ROLES:
        if role in users:
            continue
        user = User(email=f"{role.replace('_', '-')}@{EMAIL_DOMAIN}", name=role.title(), is_admin=role == "admin")
        db.session.add(user)
        users[role] = user
    db.session.flush()
    for role, user in users.items():
        if role in ("anonymous", "stranger", "organizer", "other_organizer", "admin"):
            continue
        status = CandidateStatus.REVOKED if role in REVOKED else CandidateStatus.ACCEPTED
        db.session.add(Candidate(event_id=event.id, email=user.email, name=user.name, status=status, user_id=user.id))
        if role not in ("unsigned", "cospeaker_unsigned"):  # the revoked had signed before they were revoked
            db.session.add(AgreementAcceptance(agreement_id=agreement.id, user_id=user.id, typed_name=user.name,
                                               ip="127.0.0.1"))
    now = utcnow()
    proposals, materials, codes = {}, {}, {}
    for index, case in enumerate(CASES):
        code = code_for(index)
        abstract = "Early results, do not circulate." + (" sealed" if case.tier == Tier.RESTRICTED else "")
        proposal = Proposal(event_id=event.id, title=f"Zeta {code} {case.tier.value}", abstract=abstract,
                            tier=case.tier, status=case.status, created_by_id=users["speaker"].id)
        if case.release != "none":
            proposal.release_tier = RELEASE_TO[case.tier]
            proposal.release_at = now + (timedelta(days=1) if case.release == "future" else -timedelta(days=1))
        proposal.speakers = [
            ProposalSpeaker(user_id=users["speaker"].id, is_lead=True, confirmed=True),
            ProposalSpeaker(user_id=users["speaker_revoked"].id, confirmed=True),
            ProposalSpeaker(user_id=users["cospeaker_invited"].id, confirmed=False),
            ProposalSpeaker(user_id=users["cospeaker_revoked"].id, confirmed=False),
            ProposalSpeaker(user_id=users["cospeaker_unsigned"].id, confirmed=False),
        ]
        db.session.add(proposal)
        proposals[case], codes[case] = proposal, code
    db.session.flush()
    for case, proposal in proposals.items():
        for role in ("named", "named_revoked"):
            db.session.add(ProposalAccess(proposal_id=proposal.id, user_id=users[role].id))
        for role in ("attended", "attended_revoked"):
            db.session.add(Attendance(proposal_id=proposal.id, user_id=users[role].id))
        if case.exclusion == "person":
            # Every person is excluded by name, speakers included: the policy must still let speakers in.
            for user in users.values():
                if user is not None:
                    db.session.add(ProposalExclusion(proposal_id=proposal.id, user_id=user.id))
        elif case.exclusion == "domain":
            db.session.add(ProposalExclusion(proposal_id=proposal.id, domain=EXCLUDED_DOMAIN))
        materials[case] = Material(proposal_id=proposal.id, filename="slides.pdf", content_type="application/pdf",
                                   size=1, sha256="0" * 64, storage_key=secrets.token_hex(16))
        db.session.add(materials[case])
    db.session.commit()
    policy.forget_memo()
    return World(event, users, proposals, materials, codes)


@pytest.fixture
def tiers(ctx):
    return build_world()


def as_user(world: World, role: str):
    user = world.users[role]
    return AnonymousUserMixin() if user is None else user


def assert_cells(cells) -> None:
    """``cells`` are (label, got, expected); one failure lists every wrong cell, not just the first."""
    wrong = [f"{label}: got {got!r}, expected {want!r}" for label, got, want in cells if got != want]
    assert not wrong, f"{len(wrong)} wrong cells:\n" + "\n".join(wrong)


def codes_in(text: str) -> set[str]:
    return set(re.findall(r"Q\d{3}Q", text))


# --- predicates and their twins ---------------------------------------------------------------
#
# One world per role: building it is the slow part, so each role's predicate cells are checked in
# one test and its route cells in another. A failure lists every wrong cell of that role.


@pytest.mark.parametrize("role", list(ROLES))
def test_predicates_follow_the_table(tiers, role):
    user = as_user(tiers, role)
    listed = set(db.session.scalars(policy.proposals_visible_to(user, tiers.event).with_only_columns(Proposal.id)))
    hidden = set(db.session.scalars(policy.sessions_hidden_from(user, tiers.event)))
    cells = []
    for case, proposal in tiers.proposals.items():
        cell = f"{role} × {case.label}"
        view = policy.can_view_proposal(user, proposal)
        cells.append((f"{cell} (detail)", view, expect_view(role, case)))
        # The twin must agree with the predicate whatever the table says: a list never shows what the
        # detail page refuses, nor hides what it shows.
        cells.append((f"{cell} (list twin vs detail)", proposal.id in listed, view))
        decision = policy.material_decision(user, tiers.materials[case])
        cells.append((f"{cell} (download)", decision.allowed, expect_download(role, case)))
        # 404 for whoever may not know the talk exists, 403 for a visible talk they may not download from.
        cells.append((f"{cell} (download visible; {decision.reason})", decision.visible, expect_visible(role, case)))
        cells.append((f"{cell} (Decision truthiness)", bool(decision), decision.allowed))
        on_schedule = policy.shows_on_schedule(user, proposal)
        cells.append((f"{cell} (on the schedule)", on_schedule, expect_on_schedule(role, case)))
        # The twin names the sessions that leave no trace: those neither seen nor shown closed.
        cells.append((f"{cell} (hidden twin vs predicate)", proposal.id in hidden and proposal.id not in listed,
                      not on_schedule))
        cells.append((f"{cell} (seat taken by the exclusion)", policy.loses_seat_by_exclusion(user, proposal),
                      expect_loses_seat(role, case)))
    assert_cells(cells)


def test_public_predicate_twin_and_page_agree(tiers, client):
    public = set(db.session.scalars(policy.public_proposals(tiers.event).with_only_columns(Proposal.id)))
    assert_cells((case.label, policy.is_public_proposal(proposal), expect_public(case))
                 for case, proposal in tiers.proposals.items())
    assert_cells((f"{case.label} (twin)", proposal.id in public, expect_public(case))
                 for case, proposal in tiers.proposals.items())

    login_as(client, None)
    response = client.get("/e/retreat/public")
    assert response.status_code == 200
    shown = codes_in(response.get_data(as_text=True))
    expected = {tiers.codes[case] for case in CASES if expect_public(case)}
    assert shown == expected
    # The point of the tiers: nothing narrower than public ever reaches the public page.
    narrow = {tiers.codes[case] for case in CASES if case.effective in (Tier.ATTENDEES, Tier.RESTRICTED)}
    assert not shown & narrow
    assert expected  # the world does hold public talks, so the equality above means something


# --- the real routes --------------------------------------------------------------------------

# A few proposals per role through the real detail route: hidden answers 404, never 403.
DETAIL_SAMPLE = [Case(Tier.ATTENDEES, "none", "none", S.ACCEPTED), Case(Tier.SESSION, "none", "none", S.ACCEPTED),
                 Case(Tier.RESTRICTED, "none", "none", S.ACCEPTED),
                 Case(Tier.RESTRICTED, "past", "none", S.SUBMITTED),
                 Case(Tier.ATTENDEES, "none", "domain", S.ACCEPTED), Case(Tier.ATTENDEES, "none", "none", S.WITHDRAWN)]


@pytest.mark.parametrize("role", list(ROLES))
def test_routes_show_only_what_the_table_allows(tiers, client, role):
    """The list (and its count), search, the organizers' export and the detail page, as this role."""
    _, _, list_status, export_status = ROLES[role]
    login_as(client, tiers.users[role])
    expected = {tiers.codes[case] for case in CASES if expect_view(role, case)}
    cells = []
    for query, wanted in (
        ("", expected),
        ("zeta", expected),  # every title carries it: a search must not widen the list
        ("SEALED", {tiers.codes[c] for c in CASES if c.tier == Tier.RESTRICTED} & expected),  # abstract only
        (tiers.codes[CASES[-1]], {tiers.codes[CASES[-1]]} & expected),  # one withdrawn restricted talk
    ):
        response = client.get("/e/retreat/proposals/", query_string={"q": query} if query else None)
        cells.append((f"{role} list q={query!r} (status)", response.status_code, list_status))
        if response.status_code == 302:  # to the agreement, with this page (and its query) as where to go next
            cells.append((f"{role} list q={query!r} (to)", response.headers["Location"].split("?")[0],
                          "/e/retreat/agreement"))
        # The page echoes the query (search box, "no talk matches"); only the talks listed count.
        text = "" if response.status_code == 302 else response.get_data(as_text=True)
        text = text.replace(f'value="{query}"', "").replace(f"“{query}”", "")
        cells.extend((f"{role} list q={query!r} × {case.label} {tiers.codes[case]}",
                      tiers.codes[case] in codes_in(text), tiers.codes[case] in wanted) for case in CASES)
        if list_status == 200:
            # The count beside the heading counts only the talks shown, never hidden ones.
            count = re.search(r'class="muted count">(\d+)<', text)
            cells.append((f"{role} list q={query!r} (count)", int(count.group(1)) if count else None, len(wanted)))

    response = client.get("/e/retreat/proposals/export.csv")
    cells.append((f"{role} export (status)", response.status_code, export_status))
    if export_status == 200:
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
        exported = {code for row in rows for code in codes_in(row["title"])}
        cells.extend((f"{role} export × {case.label}", tiers.codes[case] in exported, expect_view(role, case))
                     for case in CASES)
        # Organizers review everything they may see: every status, every tier.
        cells.append((f"{role} export statuses", {row["status"] for row in rows}, {s.value for s in S}))
        cells.append((f"{role} export tiers", {row["tier"] for row in rows}, {t.value for t in TIERS}))
    else:
        cells.append((f"{role} export (leak)", codes_in(response.get_data(as_text=True)), set()))

    for case in DETAIL_SAMPLE:
        response = client.get(f"/e/retreat/proposals/{tiers.proposals[case].public_id}")
        hidden = 302 if list_status == 302 else 404  # the unsigned: to the agreement, seen talk or not
        cells.append((f"{role} detail × {case.label}", response.status_code,
                      200 if expect_view(role, case) else hidden))
        if response.status_code == 404:
            cells.append((f"{role} detail × {case.label} (leak)", codes_in(response.get_data(as_text=True)), set()))
    assert_cells(cells)


# --- dimensions the big table holds fixed -----------------------------------------------------


@pytest.fixture
def small(ctx):
    """An event with a speaker, an attendee, an unsigned attendee, an organizer and a stranger."""
    organizer = make_user(f"organizer@{EMAIL_DOMAIN}")
    event = make_event("retreat", organizers=[organizer], public_page=True)
    agreement = db.session.scalar(sa.select(Agreement).where(Agreement.event_id == event.id))
    people = {"anonymous": None, "organizer": organizer, "stranger": make_user(f"stranger@{EMAIL_DOMAIN}")}
    for role in ("speaker", "attendee", "attended", "named", "unsigned"):
        user = make_user(f"{role}@{EMAIL_DOMAIN}")
        db.session.add(Candidate(event_id=event.id, email=user.email, status=CandidateStatus.ACCEPTED,
                                 user_id=user.id))
        if role != "unsigned":
            db.session.add(AgreementAcceptance(agreement_id=agreement.id, user_id=user.id, typed_name=role, ip=""))
        people[role] = user
    db.session.commit()
    return event, people


def add_talk(event, people, tier: Tier, **fields) -> Material:
    proposal = Proposal(event_id=event.id, title=fields.pop("title", f"Talk {tier.value}"), tier=tier,
                        status=fields.pop("status", S.ACCEPTED), **fields)
    proposal.speakers = [ProposalSpeaker(user_id=people["speaker"].id, is_lead=True, confirmed=True)]
    db.session.add(proposal)
    db.session.flush()
    db.session.add(ProposalAccess(proposal_id=proposal.id, user_id=people["named"].id))
    db.session.add(Attendance(proposal_id=proposal.id, user_id=people["attended"].id))
    material = Material(proposal_id=proposal.id, filename="s.pdf", content_type="application/pdf", size=1,
                        sha256="0" * 64, storage_key=secrets.token_hex(16))
    db.session.add(material)
    db.session.commit()
    policy.forget_memo()
    return material


def user_of(people, role):
    return people[role] if people[role] is not None else AnonymousUserMixin()


# Extra terms on a talk: (role, tier, accepted the terms as they read now) → allowed, visible.
TERMS_TABLE = [
    ("speaker", Tier.RESTRICTED, F, T, T),  # the speaker wrote them
    ("named", Tier.RESTRICTED, F, F, T),
    ("named", Tier.RESTRICTED, T, T, T),
    ("attendee", Tier.ATTENDEES, F, F, T),
    ("attendee", Tier.ATTENDEES, T, T, T),
    ("organizer", Tier.ATTENDEES, F, F, T),  # organizers accept them too
    ("organizer", Tier.ATTENDEES, T, T, T),
    ("attended", Tier.SESSION, F, F, T),
    ("attended", Tier.SESSION, T, T, T),
    ("anonymous", Tier.PUBLIC, F, F, T),  # must sign in to accept: a public talk is no secret, so 403
    ("stranger", Tier.PUBLIC, F, F, T),
    ("stranger", Tier.PUBLIC, T, T, T),
]


@pytest.mark.parametrize("role, tier, accepted, allowed, visible", TERMS_TABLE)
def test_extra_terms_must_be_accepted_before_download(small, role, tier, accepted, allowed, visible):
    event, people = small
    material = add_talk(event, people, tier, extra_terms="Do not cite before the paper is out.")
    user = user_of(people, role)
    if accepted:
        db.session.add(TermsAcceptance(proposal_id=material.proposal_id, user_id=user.id,
                                       terms_hash=policy.terms_hash(material.proposal)))
        db.session.commit()
        policy.forget_memo()
    decision = policy.material_decision(user, material)
    assert (decision.allowed, decision.visible) == (allowed, visible), decision
    if accepted and role != "speaker":
        # Changing the terms asks again: the old acceptance no longer opens the material.
        material.proposal.extra_terms = "Do not cite, and do not share the figures."
        db.session.commit()
        policy.forget_memo()
        again = policy.material_decision(user, material)
        assert not again.allowed and again.reason == "extra terms not accepted"


# The public tier when the public page is off, or the event is still a draft: only attendees.
PUBLIC_PAGE_OFF = [("anonymous", F), ("stranger", F), ("unsigned", F), ("attendee", T), ("organizer", T),
                   ("speaker", T)]


@pytest.mark.parametrize("event_state", ["page off", "draft"])
@pytest.mark.parametrize("role, allowed", PUBLIC_PAGE_OFF)
def test_public_tier_without_a_public_page_is_for_attendees_only(small, client, event_state, role, allowed):
    event, people = small
    if event_state == "page off":
        event.public_page = False
    else:
        event.status = EventStatus.DRAFT
    db.session.commit()
    material = add_talk(event, people, Tier.PUBLIC, title="Open Secret Q999Q")
    user = user_of(people, role)
    decision = policy.material_decision(user, material)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.visible is False  # there is no page on which they could have seen it
    assert not policy.is_public_proposal(material.proposal)
    assert db.session.scalars(policy.public_proposals(event)).all() == []
    login_as(client, people[role])
    response = client.get("/e/retreat/public")
    assert response.status_code == 404 and "Q999Q" not in response.get_data(as_text=True)


# A scheduled release decides at access time: (tier, release to) → who may download before and after.
RELEASE_TABLE = [
    # tier, released to, role, before, after
    (Tier.ATTENDEES, Tier.PUBLIC, "anonymous", F, T),
    (Tier.ATTENDEES, Tier.PUBLIC, "unsigned", F, T),
    (Tier.SESSION, Tier.ATTENDEES, "attendee", F, T),
    (Tier.RESTRICTED, Tier.SESSION, "attended", F, T),
    (Tier.RESTRICTED, Tier.SESSION, "named", T, F),  # a release to session narrows materials to those who came
    (Tier.RESTRICTED, Tier.ATTENDEES, "organizer", F, T),
    (Tier.RESTRICTED, Tier.PUBLIC, "stranger", F, T),
]


@pytest.mark.parametrize("tier, release_tier, role, before, after", RELEASE_TABLE)
def test_release_date_decides_at_access_time(small, tier, release_tier, role, before, after):
    event, people = small
    release_at = utcnow() + timedelta(days=3)
    material = add_talk(event, people, tier, release_tier=release_tier, release_at=release_at)
    proposal, user = material.proposal, user_of(people, role)
    for now, allowed, effective in ((release_at - timedelta(seconds=1), before, tier),
                                    (release_at, after, release_tier),  # the moment itself counts as released
                                    (release_at + timedelta(days=1), after, release_tier)):
        policy.forget_memo()
        assert proposal.effective_tier(now) == effective
        assert policy.material_decision(user, material, now).allowed is allowed, now
        # The predicate and its twin move together at the release moment.
        listed = proposal in db.session.scalars(policy.proposals_visible_to(user, event, now)).all()
        assert listed is policy.can_view_proposal(user, proposal, now)
        public = proposal in db.session.scalars(policy.public_proposals(event, now)).all()
        assert public is policy.is_public_proposal(proposal, now) is (effective == Tier.PUBLIC)


# Exclusion by domain covers the domain and its subdomains, never a look-alike.
DOMAIN_TABLE = [
    # excluded entry, email, excluded?
    ("lab.org", "ada@lab.org", T),
    ("lab.org", "ada@cs.lab.org", T),
    ("lab.org", "ada@deep.cs.lab.org", T),
    ("cs.lab.org", "ada@lab.org", F),  # a subdomain does not cover its parent
    ("lab.org", "ada@ab.org", F),
    ("ab.org", "ada@lab.org", F),  # a suffix of the text is not a parent domain
    ("lab.org", "ada@lab.org.evil.com", F),
]


@pytest.mark.parametrize("domain, email, is_excluded", DOMAIN_TABLE)
def test_domain_exclusion_covers_subdomains_and_nothing_else(small, domain, email, is_excluded):
    event, people = small
    material = add_talk(event, people, Tier.ATTENDEES)
    user = User(email=email, name="Ada")
    db.session.add(user)
    db.session.flush()
    agreement = db.session.scalar(sa.select(Agreement).where(Agreement.event_id == event.id))
    db.session.add_all([
        Candidate(event_id=event.id, email=email.lower(), status=CandidateStatus.ACCEPTED, user_id=user.id),
        AgreementAcceptance(agreement_id=agreement.id, user_id=user.id, typed_name="Ada", ip=""),
        ProposalExclusion(proposal_id=material.proposal_id, domain=domain),
    ])
    db.session.commit()
    policy.forget_memo()
    assert policy.is_excluded(user, material.proposal) is is_excluded
    assert policy.can_view_proposal(user, material.proposal) is not is_excluded
    assert policy.material_decision(user, material).allowed is not is_excluded
    listed = material.proposal in db.session.scalars(policy.proposals_visible_to(user, event)).all()
    assert listed is not is_excluded


# --- end of access, preparation, only watermarked files -----------------------------------------
#
# After a material's end of access only the speakers, and the organizers as far as the tier lets them,
# open it: the organizers keep what they had (a restricted talk stays closed to them), no more.
R = policy.Reason
EXPIRY_TABLE = [
    # role,        tier,             ended, allowed, reason,               visible
    ("speaker",    Tier.RESTRICTED,  T,     T,       R.SPEAKER,            T),
    ("named",      Tier.RESTRICTED,  F,     T,       R.TIER_RESTRICTED,    T),
    ("named",      Tier.RESTRICTED,  T,     F,       R.EXPIRED,            T),
    ("organizer",  Tier.RESTRICTED,  T,     F,       R.NOT_NAMED,          T),
    ("organizer",  Tier.ATTENDEES,   T,     T,       R.TIER_ATTENDEES,     T),
    ("attendee",   Tier.ATTENDEES,   F,     T,       R.TIER_ATTENDEES,     T),
    ("attendee",   Tier.ATTENDEES,   T,     F,       R.EXPIRED,            T),
    ("attended",   Tier.SESSION,     T,     F,       R.EXPIRED,            T),
    ("attendee",   Tier.SESSION,     T,     F,       R.DID_NOT_ATTEND,     T),  # never had it: the same answer
    ("anonymous",  Tier.PUBLIC,      T,     F,       R.EXPIRED,            T),
    ("stranger",   Tier.ATTENDEES,   T,     F,       R.NO_ACCESS,          F),  # tells nothing to outsiders
    ("unsigned",   Tier.ATTENDEES,   T,     F,       R.NO_ACCESS,          F),
]


@pytest.mark.parametrize("role, tier, ended, allowed, reason, visible", EXPIRY_TABLE)
def test_end_of_access_leaves_the_speakers_and_the_organizers(small, role, tier, ended, allowed, reason, visible):
    event, people = small
    material = add_talk(event, people, tier)
    now = utcnow()
    material.expires_at = now - timedelta(minutes=1) if ended else now + timedelta(days=1)
    db.session.commit()
    decision = policy.material_decision(user_of(people, role), material, now)
    assert (decision.allowed, decision.reason, decision.visible) == (allowed, reason, visible)


def test_access_ends_at_the_moment_itself(small):
    event, people = small
    material = add_talk(event, people, Tier.ATTENDEES)
    moment = utcnow() + timedelta(hours=2)
    material.expires_at = moment
    db.session.commit()
    attendee = people["attendee"]
    assert policy.material_decision(attendee, material, moment - timedelta(seconds=1)).allowed
    assert policy.material_decision(attendee, material, moment).reason == R.EXPIRED


# A file the worker has not prepared yet, or refused, is served to nobody; whoever would have it is told
# why, and whoever would not gets their usual answer.
STATE_TABLE = [
    ("speaker",    Tier.ATTENDEES,  MaterialState.PROCESSING, R.PROCESSING,        T),
    ("speaker",    Tier.ATTENDEES,  MaterialState.REFUSED,    R.REFUSED_AT_UPLOAD, T),
    ("attendee",   Tier.ATTENDEES,  MaterialState.PROCESSING, R.PROCESSING,        T),
    ("organizer",  Tier.ATTENDEES,  MaterialState.REFUSED,    R.REFUSED_AT_UPLOAD, T),
    ("named",      Tier.RESTRICTED, MaterialState.PROCESSING, R.PROCESSING,        T),
    ("organizer",  Tier.RESTRICTED, MaterialState.PROCESSING, R.NOT_NAMED,         T),
    ("attendee",   Tier.SESSION,    MaterialState.PROCESSING, R.DID_NOT_ATTEND,    T),
    ("stranger",   Tier.ATTENDEES,  MaterialState.PROCESSING, R.NO_ACCESS,         F),
    ("anonymous",  Tier.PUBLIC,     MaterialState.REFUSED,    R.REFUSED_AT_UPLOAD, T),
]


@pytest.mark.parametrize("role, tier, state, reason, visible", STATE_TABLE)
def test_only_a_prepared_file_is_served(small, role, tier, state, reason, visible):
    event, people = small
    material = add_talk(event, people, tier)
    material.state = state
    db.session.commit()
    decision = policy.material_decision(user_of(people, role), material)
    assert (decision.allowed, decision.reason, decision.visible) == (F, reason, visible)
    material.state = MaterialState.READY
    db.session.commit()
    policy.forget_memo()
    assert policy.material_decision(user_of(people, role), material).allowed is (
        reason not in (R.DID_NOT_ATTEND, R.NOT_NAMED, R.NO_ACCESS))


@pytest.mark.parametrize("role, sees", [("speaker", T), ("organizer", T), ("attendee", F), ("named", F),
                                        ("stranger", F), ("anonymous", F)])
def test_files_being_prepared_or_refused_are_listed_for_speakers_and_organizers_only(small, role, sees):
    event, people = small
    ready = add_talk(event, people, Tier.ATTENDEES)
    proposal = ready.proposal
    others = [Material(proposal_id=proposal.id, filename=f"{state.value}.pdf", content_type="application/pdf",
                       size=1, sha256="0" * 64, storage_key=secrets.token_hex(16), state=state)
              for state in (MaterialState.PROCESSING, MaterialState.REFUSED)]
    db.session.add_all(others)
    db.session.commit()
    user = user_of(people, role)
    listed = db.session.scalars(policy.materials_visible_to(user, proposal)).all()
    assert policy.can_see_material_preparation(user, proposal) is sees
    assert listed == ([ready, *others] if sees else [ready])


# A talk that takes only watermarked files serves no other file but to its speakers; the setting
# stays in force if the tier is lowered later (the speakers may still turn it off).
ONLY_STAMPED_TABLE = [
    # role,       tier,            type,                only, allowed, reason
    ("speaker",   Tier.SESSION,    "image/gif",         T,    T,       R.SPEAKER),
    ("attended",  Tier.SESSION,    "image/gif",         T,    F,       R.NOT_STAMPED),
    ("attended",  Tier.SESSION,    "image/gif",         F,    T,       R.TIER_SESSION),
    ("attended",  Tier.SESSION,    "application/pdf",   T,    T,       R.TIER_SESSION),
    ("named",     Tier.RESTRICTED, "application/zip",   T,    F,       R.NOT_STAMPED),
    ("named",     Tier.RESTRICTED, "image/jpeg",        T,    T,       R.TIER_RESTRICTED),
    ("organizer", Tier.ATTENDEES,  "video/mp4",         T,    F,       R.NOT_STAMPED),
    ("attendee",  Tier.ATTENDEES,  "image/png",         T,    T,       R.TIER_ATTENDEES),
    ("attendee",  Tier.SESSION,    "image/gif",         T,    F,       R.DID_NOT_ATTEND),
    ("stranger",  Tier.SESSION,    "image/gif",         T,    F,       R.NO_ACCESS),
]


@pytest.mark.parametrize("role, tier, content_type, only, allowed, reason", ONLY_STAMPED_TABLE)
def test_a_talk_that_takes_only_watermarked_files_serves_no_other(small, role, tier, content_type, only, allowed,
                                                                  reason):
    event, people = small
    material = add_talk(event, people, tier, only_stamped=only)
    material.content_type = content_type
    db.session.commit()
    decision = policy.material_decision(user_of(people, role), material)
    assert (decision.allowed, decision.reason) == (allowed, reason)


@pytest.mark.parametrize("role, tier, only, may", [
    ("speaker", Tier.PUBLIC, F, F), ("speaker", Tier.ATTENDEES, F, F), ("speaker", Tier.SESSION, F, T),
    ("speaker", Tier.RESTRICTED, F, T), ("speaker", Tier.ATTENDEES, T, T),  # on already: they may turn it off
    ("organizer", Tier.RESTRICTED, F, F), ("named", Tier.RESTRICTED, F, F), ("attended", Tier.SESSION, F, F),
])
def test_who_may_take_only_watermarked_files(small, role, tier, only, may):
    event, people = small
    proposal = add_talk(event, people, tier, only_stamped=only).proposal
    assert policy.can_require_stamped(user_of(people, role), proposal) is may
    assert policy.can_set_material_expiry(user_of(people, role), proposal) is (role == "speaker")
