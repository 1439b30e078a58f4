"""An event as its participants see it: landing page, agreement, people, nominations."""

from datetime import datetime

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import policy
from ..extensions import db
from ..forms.accounts import ConfirmForm
from ..forms.events import SignAgreementForm
from ..forms.invites import NominationForm
from ..models import Proposal, ProposalSpeaker
from ..services import agreements, invites, schedule
from ._helpers import client_ip, load_event, safe_next
from .runner import done, page, run

bp = Blueprint("events", __name__, url_prefix="/e/<slug>")


@bp.get("/")
def landing(slug: str):
    event = load_event(slug, policy.can_view_event)
    entry = policy.participation(current_user, event)
    position = invites.waitlist_position(entry) if entry is not None else None
    return render_template("events/landing.html", event=event, entry=entry, position=position,
                           confirm_form=ConfirmForm())


@bp.get("/public")
def public(slug: str):
    event = load_event(slug, policy.can_view_public_page)
    talks = db.session.scalars(policy.public_proposals(event).options(
        selectinload(Proposal.speakers).selectinload(ProposalSpeaker.user)).order_by(Proposal.title)).all()
    # When and where each public talk is, from the published schedule (public sessions only).
    sessions = {s.proposal.id: s for s in schedule.published(current_user, event, public_only=True).sessions}
    talks.sort(key=lambda p: (p.id not in sessions, sessions[p.id].starts_at if p.id in sessions else datetime.min,
                              p.title.lower()))
    return render_template("events/public.html", event=event, talks=talks, sessions=sessions)


@bp.route("/agreement", methods=["GET", "POST"])
def agreement(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_view_agreement)
    form = SignAgreementForm()
    if form.is_submitted() and not policy.can_sign_agreement(current_user, event):
        abort(403)
    if not form.is_submitted():
        form.typed_name.data = current_user.name
    back = safe_next(request.args.get("next"), url_for("events.landing", slug=event.slug))
    answer = run(lambda: agreements.sign(current_user, event, form.typed_name.data, client_ip()),
                 lambda _: done("Thank you. You have signed the agreement and the event is open to you.", back),
                 form=form)
    return answer or page("events/agreement.html", form, event=event, agreement=policy.current_agreement(event),
                          signed=policy.has_signed_current_agreement(current_user, event),
                          next=request.args.get("next") if back != url_for("events.landing", slug=event.slug) else None)


@bp.get("/people")
def people(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_view_event_content)
    attendees = db.session.scalars(policy.attendees_visible_to(current_user, event)).all()
    return render_template("events/people.html", event=event, attendees=attendees)


@bp.route("/nominate", methods=["GET", "POST"])
def nominate(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_nominate)
    form = NominationForm()
    answer = run(lambda: invites.nominate(current_user, event, form.email.data, form.name.data,
                                          form.affiliation.data or "", form.note.data),
                 lambda _: done("Thank you. The organizers will see your nomination and your note.",
                                url_for("events.landing", slug=event.slug)), form=form)
    return answer or page("events/nominate.html", form, event=event)


@bp.post("/withdraw")
def withdraw(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_withdraw)
    return run(lambda: invites.withdraw(current_user, event),
               lambda _: done("You have given up your place. Thank you for letting the organizers know.",
                              url_for("events.landing", slug=event.slug), "info"))
