"""Organizers' pages for one event: dashboard, settings, organizers, agreement, audit log."""

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import policy
from ..extensions import db
from ..forms.accounts import ConfirmForm
from ..forms.events import AgreementForm, CloneEventForm, EditEventForm, OrganizerForm
from ..models import Agreement, AgreementAcceptance, AuditEntry, CandidateStatus, EventStatus, User
from ..services import agreements, audit, cloning, events, invites, outbox, overview
from ._helpers import attachment, int_arg, load_event
from .admin import event_data
from .runner import done, page, run, write_on_read

bp = Blueprint("manage", __name__, url_prefix="/e/<slug>/manage")
AUDIT_PAGE = 100


@bp.app_template_global()
def has_endpoint(name: str) -> bool:
    """Whether a page exists in this build, so that a link to it is shown only when it leads somewhere."""
    return name in current_app.view_functions


@bp.app_template_global()
def manage_page(event, path: str) -> str | None:
    """The address of the organizers' page ``/e/<slug>/manage/<path>`` when this build has it, else None
    (so that the overview links to the outbox and the message form only where they exist)."""
    wanted = f"/e/<slug>/manage/{path}"
    if any(rule.rule.rstrip("/") == wanted.rstrip("/") for rule in current_app.url_map.iter_rules()):
        return f"{url_for('manage.dashboard', slug=event.slug)}{path}"
    return None


@bp.get("/")
def dashboard(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_manage_event)
    write_on_read(lambda: invites.expire_overdue(event))
    recent = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.event_id == event.id)
        .options(selectinload(AuditEntry.actor)).order_by(AuditEntry.id.desc()).limit(8)
    ).all()
    now = overview.overview(event)
    counts = now.counts
    return render_template("manage/dashboard.html", event=event, funnel=invites.funnel(event), counts=counts,
                           approved=counts[CandidateStatus.APPROVED], recent=recent, overview=now,
                           targets=audit.readable_targets(event, recent), button=ConfirmForm(),
                           mail=outbox.status_counts(event))


@bp.post("/public-page")
def public_page(slug: str):
    """Switch the public page on or off from the overview."""
    event = load_event(slug, policy.can_view_event, policy.can_manage_event)
    on = request.form.get("public_page") == "on"
    return run(lambda: events.set_public_page(current_user, event, on),
               lambda _: done("The public page is on: anyone with its address sees the title, dates and public "
                              "talks." if on else "The public page is off.",
                              url_for("manage.dashboard", slug=event.slug)))


@bp.post("/status")
def switch_status(slug: str):
    """The overview's one-click status switch (the settings page sets any status)."""
    event = load_event(slug, policy.can_view_event, policy.can_manage_event)
    raw = request.form.get("status", "")
    if raw not in {s.value for s in EventStatus}:
        abort(400, "Choose a status from the list.")
    return run(lambda: events.change_status(current_user, event, EventStatus(raw)),
               lambda _: done(f"The event is {raw} now.", url_for("manage.dashboard", slug=event.slug)))


@bp.route("/settings", methods=["GET", "POST"])
def settings(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_manage_event)
    form = EditEventForm(obj=event)
    if not form.is_submitted():
        form.kind.data, form.status.data = event.kind.value, event.status.value
    answer = run(lambda: events.update_event(current_user, event, event_data(form, EventStatus(form.status.data)),
                                             confirm_below_accepted=form.confirm_capacity.data),
                 lambda _: done("The event is saved.", url_for("manage.settings", slug=event.slug)), form=form)
    return answer or page("manage/settings.html", form, event=event)


@bp.route("/clone", methods=["GET", "POST"])
def clone(slug: str):
    """The next edition: settings, rooms, slot grid, agreement and, if asked, the invite list."""
    event = load_event(slug, policy.can_view_event, policy.can_clone_event)
    form = CloneEventForm()
    if not form.is_submitted():
        form.title.data = event.title
    answer = run(lambda: cloning.clone_event(current_user, event, form.slug.data, form.starts_on.data,
                                             form.title.data, form.with_invites.data),
                 lambda made: done(f"{made.event.title} is ready as a draft: {made.rooms} rooms, {made.slots} slots"
                                   f"{f', {made.people} people proposed' if form.with_invites.data else ''}.",
                                   url_for("manage.dashboard", slug=made.event.slug)), form=form)
    return answer or page("manage/clone.html", form, event=event)


@bp.route("/organizers", methods=["GET", "POST"])
def organizers(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_manage_event)
    form = OrganizerForm()
    if form.is_submitted() and not policy.can_manage_organizers(current_user, event):
        abort(403)
    answer = run(lambda: events.add_organizer(current_user, event, form.email.data),
                 lambda user: done(f"{user.email} is now an organizer and has been emailed.",
                                   url_for("manage.organizers", slug=event.slug)), form=form)
    return answer or page("manage/organizers.html", form, event=event, remove_form=ConfirmForm())


@bp.post("/organizers/<id:user_id>/remove")
def remove_organizer(slug: str, user_id: int):
    event = load_event(slug, policy.can_view_event, policy.can_manage_organizers)
    user = db.session.get(User, user_id)
    if user is None or not policy.is_organizer(user, event):
        abort(404)
    # Whoever removed themself no longer manages the event: they go home.
    return run(lambda: events.remove_organizer(current_user, event, user),
               lambda _: done(f"{user.email} is no longer an organizer.",
                              url_for("manage.organizers", slug=event.slug)
                              if policy.can_manage_event(current_user, event) else url_for("main.home"), "info"))


@bp.route("/agreement", methods=["GET", "POST"])
def agreement(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_manage_event)
    current = policy.current_agreement(event)
    form = AgreementForm()
    if not form.is_submitted() and current is not None:
        form.text.data = current.text
    answer = run(lambda: agreements.publish_version(current_user, event, form.text.data),
                 lambda version: done(f"Version {version.version} is published; attendees are emailed and asked "
                                      "to sign it.",
                                      url_for("manage.agreement", slug=event.slug)), form=form)
    if answer:
        return answer
    versions = db.session.scalars(
        sa.select(Agreement).where(Agreement.event_id == event.id).order_by(Agreement.version.desc())
    ).all()
    signatures = db.session.execute(
        sa.select(AgreementAcceptance, Agreement.version)
        .join(Agreement, AgreementAcceptance.agreement_id == Agreement.id)
        .where(Agreement.event_id == event.id)
        .options(selectinload(AgreementAcceptance.user))
        .order_by(AgreementAcceptance.accepted_at.desc())
        .limit(500)
    ).all()
    unsigned = db.session.scalars(agreements.unsigned(event).limit(500)).all()
    return page("manage/agreement.html", form, event=event, current=current, versions=versions, signatures=signatures,
                unsigned=unsigned)


def _audit_filter() -> audit.AuditFilter:
    """The audit page's filters from the query string; a date that is not one is a 400 that says so."""
    def day(name: str):
        raw = request.args.get(name, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            abort(400, f"“{name}” must be a date such as 2026-05-04.")

    return audit.AuditFilter(person=request.args.get("person", "").strip()[:200],
                             action=request.args.get("action", "").strip()[:40], since=day("since"), until=day("until"))


@bp.get("/audit")
def audit_log(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_view_audit)
    chosen = _audit_filter()
    before = int_arg("before")
    statement = audit.entries_for(event, chosen).options(selectinload(AuditEntry.actor)).limit(AUDIT_PAGE + 1)
    if before:
        statement = statement.where(AuditEntry.id < before)
    entries = db.session.scalars(statement).all()
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    return render_template("manage/audit.html", event=event, entries=entries, chosen=chosen,
                           actions=audit.actions_of(event),
                           older=entries[-1].id if more else None, targets=audit.readable_targets(event, entries))


@bp.get("/audit.csv")
def audit_export(slug: str):
    """The audit log as CSV, with the filters on screen."""
    event = load_event(slug, policy.can_view_event, policy.can_view_audit)
    entries = db.session.scalars(audit.entries_for(event, _audit_filter())
                                 .options(selectinload(AuditEntry.actor))).all()
    return attachment(audit.export_csv(event, entries), f"{event.slug}-audit.csv", "text/csv")
