"""The invite list, for organizers: filter, sort, search, act in bulk, import and export."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import policy
from ..extensions import db
from ..forms.invites import BulkForm, CandidateEditForm, CandidateForm, ImportConfirmForm, ImportUploadForm
from ..models import Candidate, CandidateStatus, CandidateTag, Invitation, User, Vouch
from ..services import invites
from ..services.errors import DomainError
from ._helpers import MAX_ROW_ID, attachment, int_arg, load_event, safe_next, text_arg
from .runner import done, form_message, page, run, write_on_read

bp = Blueprint("invites", __name__, url_prefix="/e/<slug>/manage/invites")
PAGE_SIZE = 100
SORTS = {
    "name": (sa.func.lower(Candidate.name), Candidate.email),
    "email": (Candidate.email,),
    "status": (Candidate.status, Candidate.email),
    "added": (Candidate.created_at.desc(), Candidate.id.desc()),
    "invited": (Candidate.invited_at.desc(), Candidate.email),
}
STATUS_NAMES = {status.value for status in CandidateStatus}
ACTIONS = {"approve": invites.approve, "invite": invites.send_wave, "remind": invites.remind,
           "revoke": invites.revoke}
ACTION_WORDS = {"approve": "approved", "invite": "invited", "remind": "reminded", "revoke": "revoked"}


def _filtered(event, args) -> tuple[sa.Select, dict]:
    """The list's query for the filters in ``args``; the same filters drive 'act on all matching'."""
    filters = {"status": args.get("status", ""), "tag": text_arg("tag", 40, args).lower(),
               "q": text_arg("q", 200, args), "sort": args.get("sort", "added")}
    if filters["status"] and filters["status"] not in STATUS_NAMES:
        abort(400, "Unknown status filter.")
    if filters["sort"] not in SORTS:
        abort(400, "Unknown sort order.")
    statement = invites.search(policy.candidates_visible_to(current_user, event),
                               CandidateStatus(filters["status"]) if filters["status"] else None,
                               filters["tag"], filters["q"])
    return statement, filters


@bp.get("/")
def index(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_view_invites)
    write_on_read(lambda: invites.expire_overdue(event))
    return _list_page(event, request.args, int_arg("page", default=1, maximum=1_000_000))


def _list_page(event, args, page_number: int, status: int = 200):
    """The list with the filters in ``args``: the page itself, or the page again after a refused bulk action."""
    statement, filters = _filtered(event, args)
    pagination = db.paginate(statement.options(selectinload(Candidate.tags)).order_by(*SORTS[filters["sort"]]),
                             page=page_number, per_page=PAGE_SIZE, error_out=False)
    vouches = dict(db.session.execute(
        sa.select(Vouch.candidate_id, sa.func.count()).where(Vouch.candidate_id.in_([c.id for c in pagination.items]))
        .group_by(Vouch.candidate_id)).all())
    all_tags = db.session.scalars(
        sa.select(CandidateTag.tag).join(Candidate).where(Candidate.event_id == event.id)
        .distinct().order_by(CandidateTag.tag)
    ).all()
    return render_template(
        "invites/index.html", event=event, pagination=pagination, vouches=vouches, filters=filters,
        all_tags=all_tags, counts=invites.status_counts(event), bulk_form=BulkForm(),
        statuses=[(s, s.value == filters["status"]) for s in CandidateStatus],
        can_edit=policy.can_manage_invites(current_user, event), latest_wave=invites.latest_wave(event),
    ), status


@bp.post("/bulk")
def bulk(slug: str):
    """Act on the ticked people, or on everyone matching the list's filters."""
    event = load_event(slug, policy.can_view_event, policy.can_manage_invites)
    form = BulkForm()
    if not form.validate_on_submit():  # before the selection, which the action's own checks come after
        if "csrf_token" in form.errors:
            abort(400, form_message(form))
        flash(form_message(form) + " Nothing was changed.", "error")  # back to the list as it was
        return _list_page(event, request.form, 1, 400)
    if request.form.get("scope") == "matching":
        statement, _ = _filtered(event, request.form)
    else:
        raw_ids = request.form.getlist("ids")
        if not all(i.isdigit() and 0 < int(i) <= MAX_ROW_ID for i in raw_ids):
            abort(400, "The selection is not valid.")
        ids = sorted({int(i) for i in raw_ids})
        if not ids:  # back to the list as it was, filters and all, with the reason
            flash("Tick at least one person first, or choose “everyone matching”. Nothing was changed.", "error")
            return _list_page(event, request.form, 1, 400)
        statement = policy.candidates_visible_to(current_user, event).where(Candidate.id.in_(ids))
    chosen = db.session.scalars(statement.options(selectinload(Candidate.user)).order_by(Candidate.id)).all()
    if request.form.get("scope") != "matching" and len(chosen) != len(ids):
        abort(400, "The selection is not valid: some of these people are not on this event's list.")
    return run(lambda: ACTIONS[form.action.data](current_user, event, chosen), lambda result: _bulk_done(
        result, form.action.data, safe_next(request.form.get("next"), url_for("invites.index", slug=event.slug))),
        button=form)


def _bulk_done(result, action: str, back: str):
    message = f"{len(result.done)} {ACTION_WORDS[action]}."
    if result.skipped:
        message += f" {len(result.skipped)} skipped: not in a state for this action."
    return done(message, back, "success" if result.done else "info")


@bp.route("/new", methods=["GET", "POST"])
def add(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_manage_invites)
    form = CandidateForm()
    back = url_for("invites.add" if request.form.get("another") else "invites.index", slug=event.slug)
    answer = run(lambda: invites.add_candidate(current_user, event, form.email.data, form.name.data or "",
                                               form.affiliation.data or "", form.approved.data, form.tags.data or ""),
                 lambda candidate: done(f"{candidate.display_name} is on the list ({candidate.status.value}).", back),
                 form=form)
    return answer or page("invites/new.html", form, event=event)


@bp.route("/import", methods=["GET", "POST"])
def import_csv(slug: str):
    """Upload or paste → preview with every bad row → fix in place → import. Nothing is written until then."""
    event = load_event(slug, policy.can_view_event, policy.can_manage_invites)
    upload, confirm = ImportUploadForm(), ImportConfirmForm()
    if request.method == "GET":
        return render_template("invites/import.html", event=event, form=upload)
    if request.form.get("stage") == "confirm":
        if not confirm.validate_on_submit():
            problems = [message for messages in confirm.errors.values() for message in messages]
            empty = invites.ImportPreview([], problems or ["The form expired; upload the file again."])
            return render_template("invites/preview.html", event=event, preview=empty, form=confirm, fields=[]), 400
        text = confirm.text.data
        try:
            columns = invites.parse_columns(request.form.getlist("column"))
        except DomainError as error:
            abort(400, error.message)
        action = (request.form.getlist("action")[-1:] or ["check"])[0]
        if action == "bad_rows":
            return attachment(invites.bad_rows_csv(invites.preview_import(event, text, columns)),
                              f"{event.slug}-rows-to-fix.csv", "text/csv")
        if action in ("import", "import_good"):
            def refused(error, _status):
                flash(error.message, "error")
                return _preview(event, text, confirm, 422, columns)

            return run(lambda: invites.import_candidates(current_user, event, text, confirm.approved.data, columns,
                                                         only_good=action == "import_good"),
                       lambda preview: done(_imported(preview),
                                            url_for("invites.index", slug=event.slug, sort="added")),
                       button=confirm, refused=refused)
        return _preview(event, text, confirm, columns=columns)
    else:
        if not upload.validate_on_submit():
            return render_template("invites/import.html", event=event, form=upload), 400
        text = upload.text.data or ""
        if upload.file.data:
            raw = upload.file.data.read(2_000_001)
            if len(raw) > 2_000_000:
                upload.file.errors.append("The file is larger than 2 MB; split it.")
                return render_template("invites/import.html", event=event, form=upload), 413
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                try:
                    text = raw.decode("cp1252")
                except UnicodeDecodeError:
                    upload.file.errors.append("The file is not text. Save it as CSV (UTF-8) and try again.")
                    return render_template("invites/import.html", event=event, form=upload), 400
        if not text.strip():
            upload.text.errors.append("Choose a CSV file or paste rows.")
            return render_template("invites/import.html", event=event, form=upload), 400
        confirm.text.data = text
    return _preview(event, text, confirm)


def _imported(preview) -> str:
    left = len(preview.bad_rows)
    return f"{len(preview.good_rows)} people imported." + (
        f" {left} {'row was' if left == 1 else 'rows were'} left out." if left else "")


def _preview(event, text: str, form, status: int | None = None, columns: list[str] | None = None):
    preview = invites.preview_import(event, text, columns)
    return render_template("invites/preview.html", event=event, preview=preview, form=form,
                           fields=[*invites.IMPORT_FIELDS, invites.IGNORE]), (
        status or (200 if preview.ok else 422))


@bp.get("/export.csv")
def export(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_view_invites)
    visible, filters = _filtered(event, request.args)  # the list as filtered on screen
    candidates = db.session.scalars(visible.order_by(*SORTS[filters["sort"]])).all()
    ids = visible.with_only_columns(Candidate.id)
    tags, vouchers = defaultdict(list), defaultdict(list)
    for candidate_id, tag in db.session.execute(
        sa.select(CandidateTag.candidate_id, CandidateTag.tag).where(CandidateTag.candidate_id.in_(ids))
        .order_by(CandidateTag.tag)
    ):
        tags[candidate_id].append(tag)
    for candidate_id, email in db.session.execute(
        sa.select(Vouch.candidate_id, User.email).join(User, Vouch.user_id == User.id)
        .where(Vouch.candidate_id.in_(ids)).order_by(Vouch.created_at)
    ):
        vouchers[candidate_id].append(email)
    return attachment(invites.export_csv(candidates, tags, vouchers), f"{event.slug}-invite-list.csv", "text/csv")


@bp.route("/<id:candidate_id>", methods=["GET", "POST"])
def detail(slug: str, candidate_id: int):
    event = load_event(slug, policy.can_view_event, policy.can_view_invites)
    candidate = db.session.scalar(
        policy.candidates_visible_to(current_user, event).where(Candidate.id == candidate_id)
    ) or abort(404)
    form = CandidateEditForm(obj=candidate)
    if not form.is_submitted():
        form.tags.data = ", ".join(candidate.tag_names)
    elif not policy.can_manage_invites(current_user, event):
        abort(403)
    answer = run(lambda: invites.update_candidate(current_user, candidate, form.name.data or "",
                                                  form.affiliation.data or "", form.notes.data or "",
                                                  form.tags.data or ""),
                 lambda _: done("Saved.", url_for("invites.detail", slug=event.slug, candidate_id=candidate.id)),
                 form=form)
    if answer:
        return answer
    vouches = invites.vouch_chain(candidate)
    history = db.session.scalars(
        sa.select(Invitation).where(Invitation.candidate_id == candidate.id).order_by(Invitation.id.desc())
    ).all()
    return page("invites/detail.html", form, event=event, candidate=candidate, vouches=vouches, history=history,
                bulk_form=BulkForm(), can_edit=policy.can_manage_invites(current_user, event))
