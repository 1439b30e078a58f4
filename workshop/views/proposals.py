"""Talk proposals inside an event: list, propose, detail, edit, tier, access, decide, vote, attend, terms."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import policy
from ..extensions import db
from ..forms.accounts import ConfirmForm
from ..forms.proposals import AccessForm, AttendanceForm, DecisionForm, ProposalForm, TermsForm, TierForm
from ..models import (
    Attendance,
    Proposal,
    ProposalAccess,
    ProposalExclusion,
    ProposalKind,
    ProposalSpeaker,
    ProposalStatus,
    Tier,
    TierChange,
    User,
    Vote,
    utcnow,
)
from ..services import accounts, proposals
from ..services.errors import DomainError
from ..services.invites import csv_safe
from ._helpers import client_ip, form_error, load_event

bp = Blueprint("proposals", __name__, url_prefix="/e/<slug>/proposals")


def load_proposal(slug: str, public_id: str, may_act=None):
    """The event and a proposal the current user may see (404 otherwise); 403 for a forbidden action."""
    event = load_event(slug, policy.can_view_event)
    proposal = db.session.scalar(
        sa.select(Proposal).where(Proposal.event_id == event.id, Proposal.public_id == public_id)
    )
    if proposal is None or not policy.can_view_proposal(current_user, proposal):
        abort(404)
    if may_act is not None and not may_act(current_user, proposal):
        abort(403)
    return event, proposal


def _data(form, proposal: Proposal | None = None) -> proposals.ProposalData:
    """The form's values; when editing, the tier is the proposal's (it changes only on the tier page)."""
    tier = Tier(form.tier.data) if "tier" in form else proposal.tier
    return proposals.ProposalData(
        title=form.title.data or "", abstract=form.abstract.data or "", kind=ProposalKind(form.kind.data),
        duration_minutes=form.duration_minutes.data, tier=tier,
        chatham_house=form.chatham_house.data, no_recording=form.no_recording.data,
        extra_terms=form.extra_terms.data or "")


@bp.get("/")
def index(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_view_event_content)
    query = request.args.get("q", "").strip()[:200]
    statement = policy.proposals_visible_to(current_user, event).options(
        selectinload(Proposal.speakers).selectinload(ProposalSpeaker.user))
    if query:
        pattern = query.lower()
        statement = statement.where(sa.or_(sa.func.lower(Proposal.title).contains(pattern, autoescape=True),
                                           sa.func.lower(Proposal.abstract).contains(pattern, autoescape=True)))
    items = db.session.scalars(statement.order_by(Proposal.created_at.desc(), Proposal.id.desc())).all()
    ids = [p.id for p in items]
    speaking = set(db.session.scalars(sa.select(ProposalSpeaker.proposal_id).where(
        ProposalSpeaker.user_id == current_user.id, ProposalSpeaker.proposal_id.in_(ids))))
    manager = policy.can_manage_event(current_user, event)
    counts = proposals.vote_counts([i for i in ids if manager or i in speaking])
    mine = set(db.session.scalars(sa.select(Vote.proposal_id).where(Vote.user_id == current_user.id,
                                                                     Vote.proposal_id.in_(ids))))
    voter = policy.is_attendee(current_user, event) and event.status in policy.INVITING_STATUSES
    return render_template("proposals/index.html", event=event, items=items, query=query, counts=counts,
                           mine=mine, speaking=speaking, manager=manager, voter=voter, now=utcnow(),
                           vote_form=ConfirmForm())


@bp.route("/new", methods=["GET", "POST"])
def new(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_propose)
    form = ProposalForm()
    if form.validate_on_submit():
        try:
            proposal = proposals.submit(current_user, event, _data(form), form.cospeakers.data or "")
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
        else:
            db.session.commit()
            flash("Your proposal is in. Upload slides whenever they are ready.", "success")
            return redirect(url_for("proposals.detail", slug=slug, public_id=proposal.public_id))
    return render_template("proposals/form.html", event=event, form=form, proposal=None), 400 if form.errors else 200


@bp.get("/<public_id>")
def detail(slug: str, public_id: str):
    from .materials import materials_panel

    event, proposal = load_proposal(slug, public_id)
    speakers = db.session.scalars(sa.select(ProposalSpeaker).where(ProposalSpeaker.proposal_id == proposal.id)
                                  .options(selectinload(ProposalSpeaker.user)).order_by(ProposalSpeaker.id)).all()
    context = {"event": event, "proposal": proposal, "speakers": speakers, "now": utcnow(),
               "confirm_form": ConfirmForm(), "decision_form": DecisionForm()}
    if policy.can_see_votes(current_user, proposal):
        context["votes"] = proposals.vote_counts([proposal.id]).get(proposal.id, 0)
    if policy.can_see_tier_history(current_user, proposal):
        context["history"] = db.session.scalars(
            sa.select(TierChange).where(TierChange.proposal_id == proposal.id)
            .options(selectinload(TierChange.actor)).order_by(TierChange.id.desc())).all()
    if policy.can_vote(current_user, proposal):
        context["voted"] = db.session.get(Vote, (proposal.id, current_user.id)) is not None
    context.update(materials_panel(current_user, proposal))
    return render_template("proposals/detail.html", **context)


@bp.route("/<public_id>/edit", methods=["GET", "POST"])
def edit(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_edit_proposal)
    form = ProposalForm(obj=proposal)
    del form.tier  # not on the edit page: the tier page changes it, and records the change
    if request.method == "GET":
        form.kind.data = proposal.kind.value
        form.cospeakers.data = ", ".join(s.user.email for s in proposal.speakers if not s.is_lead)
    if form.validate_on_submit():
        try:
            proposals.update(current_user, proposal, _data(form, proposal), form.cospeakers.data or "")
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
        else:
            db.session.commit()
            flash("Saved.", "success")
            return redirect(url_for("proposals.detail", slug=slug, public_id=public_id))
    return render_template("proposals/form.html", event=event, form=form, proposal=proposal), (
        400 if form.errors else 200)


def _local_to_utc(event, value):
    return value.replace(tzinfo=ZoneInfo(event.timezone)).astimezone(UTC).replace(tzinfo=None) if value else None


def _utc_to_local(event, value):
    return value.replace(tzinfo=UTC).astimezone(ZoneInfo(event.timezone)).replace(tzinfo=None) if value else None


@bp.route("/<public_id>/tier", methods=["GET", "POST"])
def tier(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_change_tier)
    form = TierForm()
    speaker = policy.may_lower_tier(current_user, proposal)
    if request.method == "GET":
        form.tier.data = proposal.tier.value
        form.release_tier.data = proposal.release_tier.value if proposal.release_tier else ""
        form.release_at.data = _utc_to_local(event, proposal.release_at)
    if form.validate_on_submit():
        release_tier = Tier(form.release_tier.data) if speaker and form.release_tier.data else None
        release_at = _local_to_utc(event, form.release_at.data) if speaker and release_tier else None
        try:
            proposals.change_tier(current_user, proposal, Tier(form.tier.data), release_tier, release_at)
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
        else:
            db.session.commit()
            flash("The tier is changed, and the change is recorded.", "success")
            return redirect(url_for("proposals.detail", slug=slug, public_id=public_id))
    return render_template("proposals/tier.html", event=event, proposal=proposal, form=form, speaker=speaker,
                           now=utcnow()), 400 if form.errors else 200


@bp.route("/<public_id>/access", methods=["GET", "POST"])
def access(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_edit_proposal)
    form = AccessForm()
    if request.method == "GET":
        form.named.data = "\n".join(db.session.scalars(sa.select(User.email).join(
            ProposalAccess, ProposalAccess.user_id == User.id).where(ProposalAccess.proposal_id == proposal.id)))
        exclusions = db.session.execute(sa.select(ProposalExclusion.domain, User.email).outerjoin(
            User, ProposalExclusion.user_id == User.id).where(ProposalExclusion.proposal_id == proposal.id)).all()
        form.excluded.data = "\n".join(domain or email for domain, email in exclusions)
    if form.validate_on_submit():
        try:
            proposals.set_access(current_user, proposal, form.named.data or "", form.excluded.data or "")
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
        else:
            db.session.commit()
            flash("Saved: who may see this talk.", "success")
            return redirect(url_for("proposals.detail", slug=slug, public_id=public_id))
    return render_template("proposals/access.html", event=event, proposal=proposal, form=form), (
        400 if form.errors else 200)


def _act(slug: str, public_id: str, may_act, action, message: str):
    """A one-button POST: load, check, act, commit, back to the proposal."""
    event, proposal = load_proposal(slug, public_id, may_act)
    if not ConfirmForm().validate_on_submit():
        abort(400, "The form expired; try again.")
    try:
        action(proposal)
    except DomainError as error:
        db.session.rollback()
        abort(409, error.message)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("proposals.detail", slug=slug, public_id=public_id))


@bp.post("/<public_id>/withdraw")
def withdraw(slug: str, public_id: str):
    return _act(slug, public_id, policy.can_edit_proposal, lambda p: proposals.withdraw(current_user, p),
                "The proposal is withdrawn.")


@bp.post("/<public_id>/cospeaking")
def cospeaking(slug: str, public_id: str):
    accept = request.form.get("answer") == "accept"
    return _act(slug, public_id, policy.can_confirm_cospeaking,
                lambda p: proposals.answer_cospeaking(current_user, p, accept),
                "You are a co-speaker of this talk." if accept else "You declined to co-speak.")


@bp.post("/<public_id>/vote")
def vote(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_vote)
    if not ConfirmForm().validate_on_submit():
        abort(400, "The form expired; try again.")
    voted = proposals.toggle_vote(current_user, proposal)
    db.session.commit()
    flash(f"Marked: you want to attend “{proposal.title}”." if voted else f"Unmarked “{proposal.title}”.", "success")
    back = url_for("proposals.index", slug=slug) if request.form.get("from") == "list" else url_for(
        "proposals.detail", slug=slug, public_id=public_id)
    return redirect(back)


@bp.post("/<public_id>/decide")
def decide(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_decide_proposal)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400, "Choose accept or reject.")
    try:
        proposals.decide(current_user, proposal, form.decision.data == "accept", form.note.data or "")
    except DomainError as error:
        db.session.rollback()
        abort(409, error.message)
    db.session.commit()
    flash(f"“{proposal.title}” is {proposal.status.value}; the speakers have been emailed.", "success")
    return redirect(url_for("proposals.detail", slug=slug, public_id=public_id))


@bp.route("/<public_id>/attendance", methods=["GET", "POST"])
def attendance(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_record_attendance)
    form = AttendanceForm()
    if form.validate_on_submit():
        try:
            user = accounts.find_user(accounts.normalize_email(form.email.data))
            if user is None:
                raise DomainError("No attendee has that address.", field="email")
            if request.form.get("remove"):
                proposals.remove_attendance(current_user, proposal, user)
                message = f"{user.email} is no longer recorded as attending."
            else:
                added = proposals.record_attendance(current_user, proposal, user)
                message = f"{user.email} attended." if added else f"{user.email} was already recorded."
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("proposals.attendance", slug=slug, public_id=public_id))
    attendees = db.session.scalars(sa.select(Attendance).where(Attendance.proposal_id == proposal.id)
                                   .options(selectinload(Attendance.user)).order_by(Attendance.created_at)).all()
    return render_template("proposals/attendance.html", event=event, proposal=proposal, form=form,
                           attendees=attendees), 400 if form.errors else 200


@bp.route("/<public_id>/terms", methods=["GET", "POST"])
def terms(slug: str, public_id: str):
    event = load_event(slug, lambda user, e: policy.can_view_event(user, e) or policy.can_view_public_page(user, e))
    proposal = db.session.scalar(sa.select(Proposal).where(Proposal.event_id == event.id,
                                                           Proposal.public_id == public_id))
    if proposal is None or not (policy.can_view_proposal(current_user, proposal)
                                or policy.is_public_proposal(proposal)):
        abort(404)
    if not proposal.extra_terms.strip():
        abort(404)
    if not current_user.is_authenticated:
        flash("Sign in to accept the speaker's terms.", "info")
        return redirect(url_for("auth.sign_in", next=request.path))
    if not policy.can_accept_terms(current_user, proposal):
        abort(403)
    form = TermsForm()
    accepted = policy.has_accepted_terms(current_user, proposal)
    if form.validate_on_submit():
        try:
            proposals.accept_terms(current_user, proposal, client_ip())
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
        else:
            db.session.commit()
            flash("Thank you. The talk's materials are open to you.", "success")
            return redirect(url_for("proposals.detail", slug=slug, public_id=public_id)
                            if policy.can_view_proposal(current_user, proposal)
                            else url_for("events.public", slug=slug))
    return render_template("proposals/terms.html", event=event, proposal=proposal, form=form, accepted=accepted), (
        400 if form.errors else 200)


@bp.get("/export.csv")
def export(slug: str):
    """Organizers' export: every proposal they may see, with speakers, tier, status and votes."""
    event = load_event(slug, policy.can_view_event, policy.can_manage_event)
    items = db.session.scalars(policy.proposals_visible_to(current_user, event)
                               .options(selectinload(Proposal.speakers).selectinload(ProposalSpeaker.user))
                               .order_by(Proposal.created_at)).all()
    counts = proposals.vote_counts([p.id for p in items])
    now = utcnow()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["title", "kind", "minutes", "status", "tier", "scheduled release", "speakers", "votes",
                     "chatham house", "no recording"])
    for p in items:
        release = f"{p.release_tier.value} from {p.release_at:%Y-%m-%d %H:%M} UTC" if p.release_tier else ""
        writer.writerow([csv_safe(v) for v in (
            p.title, p.kind.value, p.duration_minutes, p.status.value, p.effective_tier(now).value, release,
            "; ".join(s.user.email for s in p.speakers if s.confirmed), counts.get(p.id, 0),
            "yes" if p.chatham_house else "", "yes" if p.no_recording else "")])
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{event.slug}-proposals.csv"'
    return response


STATUS_LABELS = {ProposalStatus.SUBMITTED: "submitted", ProposalStatus.ACCEPTED: "accepted",
                 ProposalStatus.REJECTED: "not accepted", ProposalStatus.WITHDRAWN: "withdrawn"}
