"""The access policy as a table: every role × every predicate × the event's state.

Each predicate's query twin is checked against it, so a list page can never show
what the detail page would refuse.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.helpers import make_candidate, make_event, make_participant, make_user, sign_agreement
from workshop import policy
from workshop.extensions import db
from workshop.models import Agreement, CandidateStatus, EventStatus
from workshop.services import accounts

S = CandidateStatus
T, F = True, False

# role → (view_event, view_content, manage, manage_organizers, sign_agreement, withdraw, nominate*, view_invites)
# *nominate while the event is open; see test_nominations_follow_the_event_status for the other states.
TABLE = {
    "anonymous":        (F, F, F, F, F, F, F, F),
    "stranger":         (F, F, F, F, F, F, F, F),
    "disabled_attendee": (F, F, F, F, F, F, F, F),
    "invited":          (F, F, F, F, F, F, F, F),  # has not answered: no link between account and event yet
    "proposed_user":    (F, F, F, F, F, F, F, F),  # on the list with an account, not invited
    "waitlisted":       (T, F, F, F, F, T, F, F),
    "declined":         (T, F, F, F, F, F, F, F),
    "revoked":          (F, F, F, F, F, F, F, F),  # sees nothing, as if the event did not exist
    "unsigned":         (T, F, F, F, T, T, F, F),
    "signed_old_version": (T, F, F, F, T, T, F, F),  # a new version asks again
    "attendee":         (T, T, F, F, T, T, T, F),
    "other_organizer":  (F, F, F, F, F, F, F, F),
    "organizer":        (T, T, T, T, F, F, F, T),
    "admin":            (T, T, T, T, F, F, F, T),
}
PREDICATES = ("can_view_event", "can_view_event_content", "can_manage_event", "can_manage_organizers",
              "can_sign_agreement", "can_withdraw", "can_nominate", "can_view_invites")


@pytest.fixture
def cast(ctx):
    organizer = make_user("org@example.org")
    other_organizer = make_user("other@example.org")
    event = make_event("retreat", organizers=[organizer])
    make_event("elsewhere", organizers=[other_organizer])
    people = {
        "anonymous": None,
        "stranger": make_user("stranger@example.org"),
        "organizer": organizer,
        "other_organizer": other_organizer,
        "admin": make_user("admin@example.org", admin=True),
        "waitlisted": make_participant(event, "wait@example.org", S.WAITLISTED, signed=False),
        "declined": make_participant(event, "declined@example.org", S.DECLINED, signed=False),
        "revoked": make_participant(event, "revoked@example.org", S.REVOKED),
        "unsigned": make_participant(event, "unsigned@example.org", signed=False),
        "signed_old_version": make_participant(event, "old@example.org"),
        "attendee": None,  # signs after the new version below
        "disabled_attendee": make_participant(event, "disabled@example.org"),
    }
    invited = make_user("invited@example.org")
    make_candidate(event, invited.email, S.INVITED)  # not linked: they have not answered
    people["invited"] = invited
    proposed = make_user("proposed@example.org")
    make_candidate(event, proposed.email, S.PROPOSED)
    people["proposed_user"] = proposed
    db.session.add(Agreement(event_id=event.id, version=2, text="Version two."))
    db.session.commit()
    people["attendee"] = make_participant(event, "attendee@example.org")
    people["disabled_attendee"].is_disabled = True
    db.session.commit()
    return event, people


def _anonymous():
    from flask_login import AnonymousUserMixin

    return AnonymousUserMixin()


def _fresh():
    policy.forget_memo()


@pytest.mark.parametrize("role", sorted(TABLE))
def test_policy_table(cast, role):
    event, people = cast
    user = people[role] if people[role] is not None else _anonymous()
    _fresh()
    got = tuple(getattr(policy, name)(user, event) for name in PREDICATES)
    assert dict(zip(PREDICATES, got)) == dict(zip(PREDICATES, TABLE[role]))


@pytest.mark.parametrize("role", sorted(TABLE))
def test_query_twins_agree_with_predicates(cast, role):
    event, people = cast
    user = people[role] if people[role] is not None else _anonymous()
    _fresh()
    visible_events = set(db.session.scalars(policy.events_visible_to(user)).all())
    assert (event in visible_events) == policy.can_view_event(user, event)
    attendees = db.session.scalars(policy.attendees_visible_to(user, event)).all()
    assert bool(attendees) == policy.can_view_event_content(user, event)
    candidates = db.session.scalars(policy.candidates_visible_to(user, event)).all()
    assert bool(candidates) == policy.can_view_invites(user, event)
    managed = set(db.session.scalars(policy.managed_events(user)).all())
    assert (event in managed) == policy.can_manage_event(user, event)
    assert (event.id in policy.content_open_among(user, [event])) == policy.can_view_event_content(user, event)


@pytest.mark.parametrize("status, may_nominate, may_edit_list", [
    (EventStatus.DRAFT, F, T),
    (EventStatus.INVITING, T, T),
    (EventStatus.OPEN, T, T),
    (EventStatus.RUNNING, T, T),
    (EventStatus.CLOSED, F, T),
    (EventStatus.ARCHIVED, F, F),
])
def test_nominations_follow_the_event_status(cast, status, may_nominate, may_edit_list):
    event, people = cast
    event.status = status
    db.session.commit()
    _fresh()
    assert policy.can_nominate(people["attendee"], event) is may_nominate
    assert policy.can_manage_invites(people["organizer"], event) is may_edit_list
    assert policy.can_answer_invitations(event) is (status in (EventStatus.INVITING, EventStatus.OPEN,
                                                                EventStatus.RUNNING))


def test_revocation_and_signing_take_effect_at_once(cast):
    """Decisions are not cached past a change: revoke, re-sign, session end."""
    event, people = cast
    attendee, unsigned = people["attendee"], people["unsigned"]
    assert policy.can_view_event_content(attendee, event)
    entry = policy.participation(attendee, event)
    entry.status = S.REVOKED
    db.session.commit()
    _fresh()
    assert not policy.can_view_event(attendee, event)
    assert not policy.can_view_event_content(attendee, event)

    assert not policy.can_view_event_content(unsigned, event)
    sign_agreement(unsigned, event)
    _fresh()
    assert policy.can_view_event_content(unsigned, event)


def test_unknown_status_denies(cast):
    """A status the policy does not know (e.g. from a newer release) grants nothing."""
    event, people = cast
    attendee = people["attendee"]
    db.session.execute(sa.text("UPDATE candidates SET status = 'mystery' WHERE user_id = :u"), {"u": attendee.id})
    db.session.commit()
    db.session.expire_all()
    _fresh()
    with pytest.raises(LookupError):
        # The column refuses to load an unknown value rather than guess.
        policy.participation(attendee, event)


def test_disabled_user_cannot_sign_in(cast):
    _, people = cast
    assert not policy.user_may_sign_in(people["disabled_attendee"])
    assert policy.user_may_sign_in(people["attendee"])
    accounts.end_all_sessions(people["attendee"])
    assert people["attendee"].get_id().endswith(":2")
