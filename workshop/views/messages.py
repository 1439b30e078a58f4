"""Organizers' mail: writing to people of the event, the wording of the messages it sends, its outbox
and the progress of its invitation waves; and, for admins, the instance's whole outbox."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, jsonify, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import policy
from ..extensions import db
from ..forms.accounts import ConfirmForm
from ..forms.messages import ComposeForm, MessageTextForm
from ..models import Candidate, Event, EventMessage, InviteWave, MessageStatus, OutboxMessage, Proposal
from ..services import invites, messages, outbox, texts
from ..services.errors import DomainError
from ._helpers import MAX_ROW_ID, int_arg, load_event
from .runner import done, page, run

bp = Blueprint("messages", __name__, url_prefix="/e/<slug>/manage")
admin_bp = Blueprint("admin_outbox", __name__, url_prefix="/admin/outbox")
OUTBOX_PAGE = 100
COPIES_PAGE = 200
PREVIEW_CHOICES = 300  # the recipients offered in "preview as"
STATUS_NAMES = {status.value for status in MessageStatus}


# --- writing to people -----------------------------------------------------------------------------


@bp.get("/messages/")
def index(slug: str):
    """The messages organizers wrote, newest first, with how far each has got."""
    event = load_event(slug, policy.can_view_event, policy.can_view_outbox)
    written = db.session.scalars(
        sa.select(EventMessage).where(EventMessage.event_id == event.id)
        .options(selectinload(EventMessage.created_by)).order_by(EventMessage.id.desc()).limit(200)
    ).all()
    return render_template("messages/index.html", event=event, written=written, counts=messages.sent_counts(written))


def _sessions(event: Event) -> list[Proposal]:
    """The accepted sessions this organizer sees (one excluded from a talk does not get to write about it)."""
    return db.session.scalars(messages.accepted_sessions(policy.proposals_visible_to(current_user, event))).all()


def _audience(form: ComposeForm, sessions: list[Proposal]) -> messages.Audience:
    chosen = {p.public_id: p for p in sessions}.get(form.session.data or "")
    return messages.Audience(form.segment.data, chosen, form.status.data or "", form.tag.data or "",
                             form.q.data or "")


@bp.route("/messages/new", methods=["GET", "POST"])
def compose(slug: str):
    """Write → preview as one recipient, with the count → send. ``?segment=filter&status=…`` comes from the
    invite list's "write to these people"."""
    event = load_event(slug, policy.can_view_event, policy.can_write_to_people)
    form = ComposeForm()
    sessions = _sessions(event)
    form.session.choices = [("", "Choose a session")] + [(p.public_id, p.title) for p in sessions]
    if not form.is_submitted():
        for name in ("segment", "session", "status", "tag", "q"):
            if request.args.get(name):
                form[name].data = request.args[name][:200]
        if form.segment.data not in messages.SEGMENTS:
            form.segment.data = "attendees"
    audience = _audience(form, sessions)
    context = {"event": event, "sessions": sessions, "meanings": messages.MEANINGS,
               "allowed": messages.placeholders_for(audience.segment if audience.segment in messages.SEGMENTS
                                                    else "attendees"),
               "filter_label": messages.describe(event, audience) if audience.segment == "filter" else ""}
    if form.is_submitted() and request.form.get("action") == "send":
        answer = run(lambda: messages.send(current_user, event, audience, form.subject.data, form.body.data,
                                           form.expected.data),
                     lambda sent: done(f"Your message is on its way to {sent.recipient_count} people.",
                                       url_for("messages.detail", slug=event.slug, message_id=sent.public_id)),
                     form=form)
        return answer or page("messages/compose.html", form, **context)
    answer = run(lambda: _preview(event, form, audience),
                 lambda shown: page("messages/compose.html", form, **context, **shown), form=form)
    return answer or page("messages/compose.html", form, **context)


def _preview(event: Event, form: ComposeForm, audience: messages.Audience) -> dict:
    """What the preview step shows: the count, the first recipients, the text as one of them gets it."""
    total = messages.count(event, audience)
    people = db.session.scalars(messages.recipients(event, audience).options(selectinload(Candidate.user))
                                .limit(PREVIEW_CHOICES)).all()
    if not people:
        raise DomainError("Nobody is in this segment, so there is no one to write to.", field="segment")
    form.preview_as.choices = [(p.email, f"{p.name} <{p.email}>" if p.name else p.email) for p in people]
    chosen = people[0]
    if form.preview_as.data:
        chosen = next((p for p in people if p.email == form.preview_as.data), None)
        if chosen is None:
            raise DomainError("Preview as one of the people this message goes to.", field="preview_as")
    form.preview_as.data = chosen.email
    subject, text, html = messages.preview(event, audience, form.subject.data, form.body.data, chosen)
    messages.check_named_talks(event, people if total <= PREVIEW_CHOICES else
                               db.session.scalars(messages.recipients(event, audience)).all(),
                               form.subject.data, form.body.data)
    form.expected.data = total
    return {"total": total, "first": people[:20], "preview": {"to": chosen, "subject": subject, "text": text,
                                                              "html": html}}


@bp.get("/messages/<message_id>")
def detail(slug: str, message_id: str):
    """One message: its text as written, and each recipient's copy with its status."""
    event = load_event(slug, policy.can_view_event, policy.can_view_outbox)
    message = db.session.scalar(sa.select(EventMessage).where(EventMessage.event_id == event.id,
                                                              EventMessage.public_id == message_id[:24])) or abort(404)
    pagination = db.paginate(messages.copies(message), page=int_arg("page", default=1, maximum=1_000_000),
                             per_page=COPIES_PAGE, error_out=False)
    return render_template("messages/detail.html", event=event, message=message, pagination=pagination,
                           counts=messages.sent_counts([message])[message.id], retry_form=ConfirmForm())


# --- the wording of the messages the event sends ---------------------------------------------------


@bp.get("/texts/")
def texts_index(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_view_outbox)
    return render_template("messages/texts.html", event=event, kinds=texts.KINDS.values(), own=texts.own_texts(event))


@bp.route("/texts/<kind>", methods=["GET", "POST"])
def edit_text(slug: str, kind: str):
    """Edit one kind's text: save (placeholders checked), preview, or go back to the built-in text."""
    event = load_event(slug, policy.can_view_event, policy.can_view_outbox)
    text_kind = texts.KINDS.get(kind) or abort(404)
    if request.method == "POST" and not policy.can_edit_message_texts(current_user, event):
        abort(403)
    own = texts.own_text(event, kind)
    form = MessageTextForm()
    if not form.is_submitted():
        form.subject.data = own.subject if own else text_kind.subject
        form.body.data = own.body if own else text_kind.body
    context = {"event": event, "kind": text_kind, "own": own, "meanings": texts.MEANINGS,
               "reset_form": ConfirmForm()}
    action = request.form.get("action", "save")
    back = url_for("messages.edit_text", slug=event.slug, kind=kind)
    if action == "reset":
        return run(lambda: texts.reset(current_user, event, kind),
                   lambda removed: done("Back to the built-in text." if removed
                                        else "It was the built-in text already.", back,
                                        "success" if removed else "info"))
    if action == "preview":
        answer = run(lambda: _text_preview(event, text_kind, form),
                     lambda shown: page("messages/text.html", form, **context, preview=shown), form=form)
        return answer or page("messages/text.html", form, **context)
    answer = run(lambda: texts.save(current_user, event, kind, form.subject.data, form.body.data),
                 lambda _: done(f"The {text_kind.label.lower()} text is saved; the next messages use it.", back),
                 form=form)
    return answer or page("messages/text.html", form, **context)


def _text_preview(event: Event, kind: texts.TextKind, form: MessageTextForm) -> dict:
    subject, body = texts.validate(kind, form.subject.data, form.body.data)
    values = texts.sample_values(kind, event, current_user.name or "Ada Example")
    return {"subject": texts.fill(subject, values), "text": texts.fill(body, values)}


# --- the outbox ----------------------------------------------------------------------------------


def _outbox_filters() -> dict:
    status = request.args.get("status", "")
    if status and status not in STATUS_NAMES:
        abort(400, "Unknown status filter.")
    return {"status": status, "q": request.args.get("q", "").strip()[:200]}


def _outbox_page(statement: sa.Select, filters: dict):
    statement = outbox.search(statement, MessageStatus(filters["status"]) if filters["status"] else None,
                              filters["q"])
    return db.paginate(statement.order_by(OutboxMessage.id.desc()),
                       page=int_arg("page", default=1, maximum=1_000_000), per_page=OUTBOX_PAGE, error_out=False)


@bp.get("/outbox")
def outbox_page(slug: str):
    """The event's messages: recipient, subject, status, attempts, last error, a retry for the failed; and
    whether sending is paused, and why."""
    event = load_event(slug, policy.can_view_event, policy.can_view_outbox)
    filters = _outbox_filters()
    waves = db.session.scalars(sa.select(InviteWave).where(InviteWave.event_id == event.id)
                               .order_by(InviteWave.id.desc()).limit(5)).all()
    counts = outbox.status_counts(event)
    return render_template("messages/outbox.html", event=event, filters=filters,
                           pagination=_outbox_page(policy.outbox_visible_to(current_user, event), filters),
                           counts=counts, failed=counts[MessageStatus.FAILED], state=outbox.sending_state(),
                           waves=waves, retry_form=ConfirmForm(), statuses=list(MessageStatus),
                           chosen=filters["status"], labels=outbox.LABELS)


def _event_message(event: Event, message_id: int) -> OutboxMessage:
    """One of the event's messages (another event's id finds nothing)."""
    return db.session.scalar(policy.outbox_visible_to(current_user, event).where(OutboxMessage.id == message_id)
                             ) or abort(404)


@bp.post("/outbox/<id:message_id>/retry")
def retry(slug: str, message_id: int):
    event = load_event(slug, policy.can_view_event, policy.can_retry_mail)
    message = _event_message(event, message_id)
    return run(lambda: outbox.retry(message),
               lambda _: done(f"The message to {message.to_email} is queued again.",
                              url_for("messages.outbox_page", slug=event.slug)))


@bp.post("/outbox/retry-failed")
def retry_failed(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_retry_mail)
    return run(lambda: outbox.retry_all_failed(event),
               lambda n: done(f"{n} failed messages are queued again." if n else "No message had failed.",
                              url_for("messages.outbox_page", slug=event.slug), "success" if n else "info"))


# --- invitation waves --------------------------------------------------------------------------------


def _wave(event: Event, wave_id: int) -> InviteWave:
    wave = db.session.get(InviteWave, wave_id) if wave_id <= MAX_ROW_ID else None
    if wave is None or wave.event_id != event.id:
        abort(404)
    return wave


@bp.get("/waves/<id:wave_id>")
def wave(slug: str, wave_id: int):
    """A wave's progress: sent, waiting and failed of its emails, updating itself (static/waves.js)."""
    event = load_event(slug, policy.can_view_event, policy.can_view_waves)
    this = _wave(event, wave_id)
    return render_template("messages/wave.html", event=event, wave=this, progress=invites.wave_progress(this))


@bp.get("/waves/<id:wave_id>/status")
def wave_status(slug: str, wave_id: int):
    """The wave's figures as JSON, for its page to poll."""
    event = load_event(slug, policy.can_view_event, policy.can_view_waves)
    progress = invites.wave_progress(_wave(event, wave_id))
    settled = progress["sent"] + progress["failed"] + progress["cancelled"]
    response = jsonify({**progress, "done": settled >= progress["total"],
                        "percent": round(100 * settled / progress["total"]) if progress["total"] else 100})
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the instance's outbox, for admins ---------------------------------------------------------------


@admin_bp.before_request
def only_admins():
    if not policy.can_view_instance_outbox(current_user):
        abort(404)


@admin_bp.get("/")
def instance():
    filters = _outbox_filters()
    pagination = _outbox_page(policy.outbox_visible_to(current_user), filters)
    event_ids = {m.event_id for m in pagination.items if m.event_id}
    events = {e.id: e for e in db.session.scalars(sa.select(Event).where(Event.id.in_(event_ids)))} if event_ids else {}
    counts = outbox.status_counts()
    return render_template("messages/outbox.html", event=None, events=events, filters=filters, pagination=pagination,
                           counts=counts, failed=counts[MessageStatus.FAILED], state=outbox.sending_state(), waves=[],
                           retry_form=ConfirmForm(), statuses=list(MessageStatus), chosen=filters["status"],
                           labels=outbox.LABELS)


@admin_bp.post("/<id:message_id>/retry")
def instance_retry(message_id: int):
    message = db.session.scalar(policy.outbox_visible_to(current_user).where(OutboxMessage.id == message_id)
                                ) or abort(404)
    return run(lambda: outbox.retry(message),
               lambda _: done(f"The message to {message.to_email} is queued again.", url_for("admin_outbox.instance")))
