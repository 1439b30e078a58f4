"""Talk proposals inside an event: list, propose, detail, edit, tier, access, decide, vote, attend, terms."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import dates, policy
from ..extensions import db
from ..forms.accounts import ConfirmForm
from ..forms.proposals import AccessForm, AttendanceForm, DecisionForm, ProposalForm, TermsForm, TierForm
from ..models import (
    Attendance,
    Proposal,
    ProposalKind,
    ProposalSpeaker,
    Tier,
    TierChange,
    WideningRequest,
    utcnow,
)
from ..services import consent, proposals
from ._helpers import attachment, client_ip, int_arg, load_event, load_proposal, text_arg, waits_for_consent
from .runner import done, page, run

bp = Blueprint("proposals", __name__, url_prefix="/e/<slug>/proposals")
PAGE_SIZE = 100


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
    query = text_arg("q", 200)
    statement = policy.proposals_visible_to(current_user, event).options(
        selectinload(Proposal.speakers).selectinload(ProposalSpeaker.user))
    newest_first = proposals.search(statement, query).order_by(Proposal.created_at.desc(), Proposal.id.desc())
    pagination = db.paginate(newest_first, page=int_arg("page", default=1, maximum=1_000_000), per_page=PAGE_SIZE,
                             error_out=False)
    items = pagination.items
    ids = [p.id for p in items]
    reviewed = policy.reviewed_among(current_user, event, ids)
    return render_template("proposals/index.html", event=event, pagination=pagination, query=query,
                           manager=policy.can_manage_event(current_user, event), reviewed=reviewed,
                           counts=proposals.vote_counts(reviewed),
                           votable=policy.votable_among(current_user, event, items),
                           mine=proposals.voted_among(current_user, ids), now=utcnow(), vote_form=ConfirmForm())


@bp.route("/new", methods=["GET", "POST"])
def new(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_propose)
    form = ProposalForm()
    answer = run(lambda: proposals.submit(current_user, event, _data(form), form.cospeakers.data or ""),
                 lambda proposal: done("Your proposal is in. Upload slides whenever they are ready.",
                                       url_for("proposals.detail", slug=slug, public_id=proposal.public_id)),
                 form=form)
    return answer or page("proposals/form.html", form, event=event, proposal=None)


@bp.get("/<public_id>")
def detail(slug: str, public_id: str):
    from .materials import materials_panel
    from .schedule import schedule_box

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
        context["voted"] = proposal.id in proposals.voted_among(current_user, [proposal.id])
    if policy.can_view_audience(current_user, proposal):
        context["audience"] = policy.talk_audience(proposal, context["now"])
    if policy.can_see_widening_requests(current_user, proposal):
        context["requests"] = consent.open_requests(proposal)
    context.update(materials_panel(current_user, proposal))
    context.update(schedule_box(current_user, proposal))
    return render_template("proposals/detail.html", **context)


@bp.route("/<public_id>/edit", methods=["GET", "POST"])
def edit(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_edit_proposal)
    form = ProposalForm(obj=proposal)
    del form.tier  # not on the edit page: the tier page changes it, and records the change
    if not form.is_submitted():
        form.kind.data = proposal.kind.value
        form.cospeakers.data = ", ".join(s.user.email for s in proposal.speakers if not s.is_lead)
    answer = run(lambda: proposals.update(current_user, proposal, _data(form, proposal), form.cospeakers.data or ""),
                 lambda _: done("Saved.", _detail_url(proposal)), form=form)
    return answer or page("proposals/form.html", form, event=event, proposal=proposal)


def _detail_url(proposal) -> str:
    return url_for("proposals.detail", slug=proposal.event.slug, public_id=proposal.public_id)


@bp.route("/<public_id>/tier", methods=["GET", "POST"])
def tier(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_change_tier)
    form = TierForm()
    if not form.is_submitted():
        form.tier.data = proposal.tier.value
        form.release_tier.data = proposal.release_tier.value if proposal.release_tier else ""
        form.release_at.data = dates.local_naive(event, proposal.release_at)

    def change():
        release_tier = Tier(form.release_tier.data) if form.release_tier.data else None
        release_at = dates.to_utc(event, form.release_at.data) if release_tier else None
        return proposals.change_tier(current_user, proposal, Tier(form.tier.data), release_tier, release_at)

    answer = run(change, lambda result: done(_changed_message(result, "The tier is changed, and the change is "
                                                              "recorded."), _detail_url(proposal)), form=form)
    return answer or page("proposals/tier.html", form, event=event, proposal=proposal, now=utcnow(),
                          waits=policy.widening_waits(current_user, proposal))


def _changed_message(result, applied: str) -> str:
    if isinstance(result, WideningRequest):
        return waits_for_consent("the talk")
    return applied


@bp.route("/<public_id>/access", methods=["GET", "POST"])
def access(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_edit_proposal)
    form = AccessForm()
    if not form.is_submitted():
        form.named.data, form.excluded.data = ("\n".join(names) for names in proposals.access_lists(proposal))
    answer = run(lambda: proposals.set_access(current_user, proposal, form.named.data or "", form.excluded.data or ""),
                 lambda result: done(_changed_message(result, "Saved: who may see this talk."), _detail_url(proposal)),
                 form=form)
    return answer or page("proposals/access.html", form, event=event, proposal=proposal,
                          waits=policy.widening_waits(current_user, proposal))


@bp.get("/<public_id>/audience")
def audience(slug: str, public_id: str):
    """Exactly who reads the talk and opens its materials, now and after a scheduled release, and why."""
    event, proposal = load_proposal(slug, public_id, policy.can_view_audience)
    now = utcnow()
    return render_template("proposals/audience.html", event=event, proposal=proposal, now=now,
                           audience=policy.talk_audience(proposal, now))


def _load_request(slug: str, public_id: str, request_id: str, may_act) -> tuple[Proposal, WideningRequest]:
    """A request of a talk: 404 to whoever may not see the talk's requests, 403 for a forbidden answer."""
    _event, proposal = load_proposal(slug, public_id, policy.can_see_widening_requests)
    widening = consent.request_of(proposal, request_id)
    if widening is None:
        abort(404)
    if not may_act(current_user, widening):
        abort(403)
    return proposal, widening


@bp.post("/<public_id>/requests/<request_id>/answer")
def answer_request(slug: str, public_id: str, request_id: str):
    proposal, widening = _load_request(slug, public_id, request_id, policy.can_answer_widening)
    accept = request.form.get("answer") == "accept"
    messages = {"applied": "You consented, and every speaker has: the change applies now.",
                "pending": "You consented. The change waits for the other speakers.",
                "declined": "You declined: the change does not happen. Everyone has been told.",
                "superseded": "Someone it names has left the event since it was asked, so it was set aside; "
                              "everyone has been told."}
    return run(lambda: consent.answer(current_user, widening, accept),
               lambda status: done(messages.get(status.value, "Answered."), _detail_url(proposal)))


@bp.post("/<public_id>/requests/<request_id>/withdraw")
def withdraw_request(slug: str, public_id: str, request_id: str):
    proposal, widening = _load_request(slug, public_id, request_id, policy.can_withdraw_widening)
    return run(lambda: consent.withdraw(current_user, widening),
               lambda _: done("The request is withdrawn; the speakers have been told.", _detail_url(proposal)))


def _press(slug: str, public_id: str, may_act, action, message, form=None):
    """A one-button POST on a talk: load, check, act, commit, and back to the talk (or to ``message(result)``)."""
    _event, proposal = load_proposal(slug, public_id, may_act)
    return run(lambda: action(proposal), lambda result: done(message(proposal, result), _detail_url(proposal)),
               button=form)


@bp.post("/<public_id>/withdraw")
def withdraw(slug: str, public_id: str):
    return _press(slug, public_id, policy.can_edit_proposal, lambda p: proposals.withdraw(current_user, p),
                  lambda p, _: "The proposal is withdrawn.")


@bp.post("/<public_id>/cospeaking")
def cospeaking(slug: str, public_id: str):
    accept = request.form.get("answer") == "accept"
    return _press(slug, public_id, policy.can_confirm_cospeaking,
                  lambda p: proposals.answer_cospeaking(current_user, p, accept),
                  lambda p, _: "You are a co-speaker of this talk." if accept else "You declined to co-speak.")


@bp.post("/<public_id>/decide")
def decide(slug: str, public_id: str):
    form = DecisionForm()
    return _press(slug, public_id, policy.can_decide_proposal,
                  lambda p: proposals.decide(current_user, p, form.decision.data == "accept", form.note.data or ""),
                  lambda p, _: f"“{p.title}” is {p.status.value}; the speakers have been emailed.", form)


@bp.post("/<public_id>/vote")
def vote(slug: str, public_id: str):
    _event, proposal = load_proposal(slug, public_id, policy.can_vote)
    back = url_for("proposals.index", slug=slug) if request.form.get("from") == "list" else _detail_url(proposal)
    return run(lambda: proposals.toggle_vote(current_user, proposal), lambda voted: done(
        f"Marked: you want to attend “{proposal.title}”." if voted else f"Unmarked “{proposal.title}”.", back))


@bp.route("/<public_id>/attendance", methods=["GET", "POST"])
def attendance(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_record_attendance)
    form = AttendanceForm()

    def record():
        user = proposals.person_by_email(form.email.data)
        if request.form.get("remove"):
            proposals.remove_attendance(current_user, proposal, user)
            return f"{user.email} is no longer recorded as attending."
        added = proposals.record_attendance(current_user, proposal, user)
        return f"{user.email} attended." if added else f"{user.email} was already recorded."

    answer = run(record, lambda message: done(message, url_for("proposals.attendance", slug=slug,
                                                               public_id=public_id)), form=form)
    if answer:
        return answer
    attendees = db.session.scalars(sa.select(Attendance).where(Attendance.proposal_id == proposal.id)
                                   .options(selectinload(Attendance.user)).order_by(Attendance.created_at)).all()
    return page("proposals/attendance.html", form, event=event, proposal=proposal, attendees=attendees)


@bp.route("/<public_id>/terms", methods=["GET", "POST"])
def terms(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, may_view=policy.can_view_proposal_anywhere,
                                    event_visible=policy.can_view_event_anywhere)
    if not proposal.extra_terms.strip():
        abort(404)
    if not current_user.is_authenticated:
        flash("Sign in to accept the speaker's terms.", "info")
        return redirect(url_for("auth.sign_in", next=request.path))
    if not policy.can_accept_terms(current_user, proposal):
        abort(403)
    form = TermsForm()
    accepted = policy.has_accepted_terms(current_user, proposal)
    back = _detail_url(proposal) if policy.can_view_proposal(current_user, proposal) else url_for(
        "events.public", slug=slug)
    answer = run(lambda: proposals.accept_terms(current_user, proposal, client_ip()),
                 lambda _: done("Thank you. The talk's materials are open to you.", back), form=form)
    return answer or page("proposals/terms.html", form, event=event, proposal=proposal, accepted=accepted)


@bp.get("/export.csv")
def export(slug: str):
    """Organizers' export: every proposal they may see, with speakers, tier, status and votes."""
    event = load_event(slug, policy.can_view_event, policy.can_manage_event)
    items = db.session.scalars(policy.proposals_visible_to(current_user, event)
                               .options(selectinload(Proposal.speakers).selectinload(ProposalSpeaker.user))
                               .order_by(Proposal.created_at)).all()
    return attachment(proposals.export_csv(items, proposals.vote_counts([p.id for p in items]), utcnow()),
                      f"{event.slug}-proposals.csv", "text/csv")
