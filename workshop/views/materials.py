"""A talk's materials: upload, delete, the one download route, the access log and leak tracing."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import dump_options_header

from .. import dates, policy
from ..extensions import db
from ..forms.materials import LeakFileForm, MaterialExpiryForm, MaterialUploadForm, OnlyStampedForm, TraceForm
from ..models import Material, MaterialAccess, Proposal, WideningRequest, utcnow
from ..services import materials
from ._helpers import PUBLIC_ID_MAX, attachment, client_ip, int_arg, load_event, load_proposal, waits_for_consent
from .runner import done, page, run, write_on_read

bp = Blueprint("materials", __name__)
LOG_PAGE = 50

DOWNLOAD_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
}


# --- loading ------------------------------------------------------------------------------


def _material(proposal: Proposal, material_public_id: str, include_deleted: bool = False) -> Material:
    material = None
    if len(material_public_id) <= PUBLIC_ID_MAX:
        statement = sa.select(Material).where(Material.proposal_id == proposal.id,
                                              Material.public_id == material_public_id)
        if not include_deleted:
            statement = statement.where(Material.deleted_at.is_(None))
        material = db.session.scalar(statement)
    return material or abort(404)


def _proposal_url(proposal: Proposal) -> str:
    return url_for("proposals.detail", slug=proposal.event.slug, public_id=proposal.public_id)


# --- the panel on the proposal's page -----------------------------------------------------


def materials_panel(user, proposal: Proposal) -> dict:
    """What ``materials/_panel.html`` needs, for a person who may see ``proposal``: the materials they see
    listed (``policy.materials_visible_to``: speakers and organizers also see files being prepared or
    refused) in upload order, the policy's decision on each for this person, and the speakers' forms.
    One query for the materials; the policy caches its lookups per request, so the count does not
    grow with the number of materials."""
    items = db.session.scalars(policy.materials_visible_to(user, proposal)).all()
    now = utcnow()
    can_expire = policy.can_set_material_expiry(user, proposal)
    event = proposal.event
    return {
        "materials": items,
        "material_decisions": {m.id: policy.material_decision(user, m, now) for m in items},
        "materials_now": now,
        "upload_form": _upload_form(proposal),
        "can_upload": policy.can_edit_proposal(user, proposal),
        "can_view_log": policy.can_view_material_log(user, proposal),
        "sees_preparation": policy.can_see_material_preparation(user, proposal),
        "any_processing": any(m.processing for m in items),
        "can_set_expiry": can_expire,
        "expiry_waits": can_expire and policy.widening_waits(user, proposal),
        "expiry_forms": {m.id: MaterialExpiryForm(formdata=None, expires_at=dates.local_naive(event, m.expires_at))
                         for m in items} if can_expire else {},
        "can_require_stamped": policy.can_require_stamped(user, proposal),
        "only_stamped_form": OnlyStampedForm(formdata=None, only_stamped=proposal.only_stamped),
        "refuses_unstamped": policy.refuses_unstamped(proposal),
        "material_type_label": materials.type_label,
        "human_size": materials.human_size,
    }


def _panel_url(proposal: Proposal) -> str:
    return _proposal_url(proposal) + "#materials"


# --- upload and delete --------------------------------------------------------------------


def _upload_form(proposal: Proposal) -> MaterialUploadForm:
    form = MaterialUploadForm()
    stamped = ("PDFs, PNG and JPEG images are checked, then stamped with each downloader's name on every page; "
               "other files are served as they are, marked “not watermarked”.")
    if policy.refuses_unstamped(proposal):
        stamped = ("This talk takes only watermarked files: PDFs, PNG and JPEG images, each stamped with the "
                   "downloader's name.")
    form.file.description = (f"Up to {materials.human_size(current_app.config['MATERIAL_MAX_BYTES'])}: "
                             f"{materials.ACCEPTED_SUMMARY}. The type is read from the file itself. {stamped}")
    return form


def _too_large(proposal: Proposal | None = None):
    limit = materials.human_size(current_app.config["MATERIAL_MAX_BYTES"])
    back = None
    if proposal is not None:
        back = _proposal_url(proposal)
    elif request.view_args and {"slug", "public_id"} <= set(request.view_args):
        back = url_for("proposals.detail", slug=request.view_args["slug"], public_id=request.view_args["public_id"])
    return render_template("materials/too_large.html", limit=limit, back=back), 413


@bp.errorhandler(RequestEntityTooLarge)
def request_too_large(error):
    """The whole request was over MAX_CONTENT_LENGTH: say the material limit, not just 'too large'."""
    return _too_large()


@bp.post("/e/<slug>/proposals/<public_id>/materials")
def upload(slug: str, public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_edit_proposal)
    form = _upload_form(proposal)

    def refused(error, status):
        if isinstance(error, materials.MaterialTooLarge):
            return _too_large(proposal)
        return render_template("materials/upload.html", event=event, proposal=proposal, upload_form=form), (
            422 if status == 409 else status)

    def uploaded(material: Material):
        said = f"“{material.filename}” is uploaded ({materials.human_size(material.size)})."
        if material.processing:
            said += " It is being checked and prepared; it opens once that is done."
        elif material.refused:  # the queue ran at once (a single process) and refused it
            return done(f"“{material.filename}” was refused: {material.refusal}", _panel_url(proposal), "error")
        elif not material.stamped:
            said += (" It is not watermarked: only PDFs and PNG or JPEG images are stamped with the downloader's "
                     "name, so it goes out as it is.")
        return done(said, _panel_url(proposal))

    return run(lambda: materials.store_upload(current_user, proposal, form.file.data.filename or "",
                                              form.file.data.stream),
               lambda material: uploaded(_reloaded(material)), form=form, refused=refused)


def _reloaded(material: Material) -> Material:
    """The row as the worker left it: with an immediate queue, it prepared the file at the commit."""
    db.session.expire(material)
    return material


@bp.get("/e/<slug>/proposals/<public_id>/materials/status")
def status(slug: str, public_id: str):
    """Where each of the talk's files stands, for the panel to poll while one is being prepared."""
    _event, proposal = load_proposal(slug, public_id, policy.can_see_material_preparation)
    items = db.session.scalars(policy.materials_visible_to(current_user, proposal)).all()
    response = jsonify({"processing": sum(1 for m in items if m.processing),
                        "materials": [{"id": m.public_id, "state": m.state.value} for m in items]})
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/e/<slug>/proposals/<public_id>/materials/<material_public_id>/expiry")
def expiry(slug: str, public_id: str, material_public_id: str):
    """A speaker ends access to one file at a date (in the event's time zone), or removes the end."""
    event, proposal = load_proposal(slug, public_id)
    material = _material(proposal, material_public_id)
    if not policy.can_set_material_expiry(current_user, proposal):
        abort(403)
    form = MaterialExpiryForm()

    def said(result):
        if isinstance(result, WideningRequest):
            return done(waits_for_consent("the file"), _panel_url(proposal))
        when = dates.to_utc(event, form.expires_at.data)
        if when is None:
            return done(f"“{material.filename}” stays open: no end of access.", _panel_url(proposal))
        shown = dates.datefmt(dates.local(event, when), "long moment")
        if when <= utcnow():
            return done(f"Access to “{material.filename}” has ended ({shown}): only the speakers and the "
                        "organizers open it now.", _panel_url(proposal))
        return done(f"Access to “{material.filename}” ends on {shown} ({event.timezone}).", _panel_url(proposal))

    answer = run(lambda: materials.set_expiry(current_user, material, dates.to_utc(event, form.expires_at.data)),
                 said, form=form)
    return answer or page("materials/expiry.html", form, event=event, proposal=proposal, material=material,
                          waits=policy.widening_waits(current_user, proposal))


@bp.post("/e/<slug>/proposals/<public_id>/materials/only-watermarked")
def only_stamped(slug: str, public_id: str):
    """A speaker of a session or restricted talk takes only watermarked files, or any file again."""
    _event, proposal = load_proposal(slug, public_id, policy.can_require_stamped)
    form = OnlyStampedForm()

    def said(unstamped):
        if isinstance(unstamped, WideningRequest):
            return done(waits_for_consent("the file"), _panel_url(proposal))
        if not form.only_stamped.data:
            return done("The talk takes any accepted file again; files that cannot be watermarked are served "
                        "as they are, marked so.", _panel_url(proposal))
        more = (f" {unstamped} file(s) here cannot be watermarked: they are no longer served to anyone but the "
                "speakers." if unstamped else "")
        return done("The talk takes only watermarked files now." + more, _panel_url(proposal))

    return run(lambda: materials.set_only_stamped(current_user, proposal, form.only_stamped.data), said,
               button=form)


@bp.post("/e/<slug>/proposals/<public_id>/materials/<material_public_id>/delete")
def delete(slug: str, public_id: str, material_public_id: str):
    _event, proposal = load_proposal(slug, public_id)
    material = _material(proposal, material_public_id)
    if not policy.can_edit_proposal(current_user, proposal):
        abort(403)
    name = material.filename
    return run(lambda: materials.delete_material(current_user, material),
               lambda _: done(f"“{name}” is deleted.", _proposal_url(proposal)))


# --- who opened it ------------------------------------------------------------------------


@bp.get("/e/<slug>/proposals/<public_id>/materials/<material_public_id>/log")
def log(slug: str, public_id: str, material_public_id: str):
    event, proposal = load_proposal(slug, public_id, policy.can_view_material_log)
    material = _material(proposal, material_public_id, include_deleted=True)
    before = int_arg("before")
    statement = (sa.select(MaterialAccess).where(MaterialAccess.material_id == material.id)
                 .options(selectinload(MaterialAccess.user)).order_by(MaterialAccess.id.desc()).limit(LOG_PAGE + 1))
    if before:
        statement = statement.where(MaterialAccess.id < before)
    entries = db.session.scalars(statement).all()
    more = len(entries) > LOG_PAGE
    entries = entries[:LOG_PAGE]
    totals = db.session.execute(
        sa.select(sa.func.count(MaterialAccess.id),
                  sa.func.count(sa.case((MaterialAccess.allowed.is_(True), 1))),
                  sa.func.count(sa.distinct(sa.case((MaterialAccess.allowed.is_(True), MaterialAccess.user_id)))))
        .where(MaterialAccess.material_id == material.id)
    ).one()
    from ..services import reader  # the reading report of a view-only material

    readers = reader.reading_report(material) if policy.can_view_reading_report(current_user, proposal) else []
    pages = reader.pages_served(entries)
    return render_template("materials/log.html", event=event, proposal=proposal, material=material, entries=entries,
                           older=entries[-1].id if more else None, newest=not before,
                           total=totals[0], served=totals[1], people=totals[2], readers=readers, pages=pages,
                           duration=reader.duration, heat=reader.heat)


# --- the one download route ---------------------------------------------------------------


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the exact name in ``filename*``
    (RFC 6266 and RFC 5987), whatever characters it holds."""
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""

    def ascii_only(text: str) -> str:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        return "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in text).strip(" _")

    fallback = (ascii_only(stem) or "file") + ("." + ascii_only(extension) if ascii_only(extension) else "")
    options = {"filename": fallback}
    if fallback != filename:
        options["filename*"] = "UTF-8''" + quote(filename, safe="!#$&+-.^_`|~")
    return dump_options_header("attachment", options)


@bp.get("/m/<material_public_id>")
def download(material_public_id: str):
    """Every request for a material's bytes comes here: the policy decides and the log records it."""
    material = None
    if len(material_public_id) <= PUBLIC_ID_MAX:
        material = db.session.scalar(
            sa.select(Material).where(Material.public_id == material_public_id)
            .options(joinedload(Material.proposal).joinedload(Proposal.event)))
    if material is None:
        abort(404)
    decision, data, _access = write_on_read(lambda: materials.open_material(current_user, material, client_ip()))
    if decision.allowed:
        response = attachment(data, material.filename, materials.served_content_type(material))
        # Werkzeug's ASCII fallback keeps quotes and backslashes and may leave a bare extension; ours does not.
        response.headers["Content-Disposition"] = content_disposition(material.filename)
        response.headers.update(DOWNLOAD_HEADERS)
        return response
    if not decision.visible:
        abort(404)
    proposal = material.proposal
    if decision.needs_terms:
        return redirect(url_for("proposals.terms", slug=proposal.event.slug, public_id=proposal.public_id), 303)
    back = _proposal_url(proposal) if policy.can_view_proposal(current_user, proposal) else None
    # Files the person may have but that cannot go out: 409 for a PDF that cannot be stamped, 503 for
    # storage that did not answer. Anything else is a refusal, in words they can act on.
    unavailable = {policy.Reason.CANNOT_BE_STAMPED: (409, "This file cannot be served"),
                   policy.Reason.FILE_UNAVAILABLE: (503, "This file cannot be read just now")}
    # Refusals about the file rather than the person: a heading that says which.
    about_the_file = {policy.Reason.PROCESSING: "Not ready yet",
                      policy.Reason.REFUSED_AT_UPLOAD: "This upload was refused",
                      policy.Reason.EXPIRED: "Access has ended",
                      policy.Reason.NOT_STAMPED: "Not served: not watermarked"}
    heading = about_the_file.get(decision.reason, "Not available to you")
    status, heading = unavailable.get(decision.reason, (403, heading))
    reader_url = (url_for("reader.read", material_public_id=material.public_id)
                  if policy.can_read_material(current_user, material) else None)
    return render_template("materials/denied.html", material=material, proposal=proposal, back=back,
                           status=status, heading=heading, message=decision.reason.explanation,
                           reader_url=reader_url), status


# --- tracing a leaked copy ----------------------------------------------------------------


def _trace_page(event, form, searched: bool, access=None, entry=None, file_form=None, status: int = 200):
    return render_template("materials/trace.html", event=event, form=form, searched=searched, access=access,
                           entry=entry, file_form=file_form or LeakFileForm(formdata=None),
                           traces=materials.recent_leak_traces(event)), status


@bp.get("/e/<slug>/manage/trace")
def trace(slug: str):
    """Organizers type the download id printed on a leaked copy and find whose copy it was, or hand in the
    leaked file itself (``trace_file``). A search is recorded in the audit log."""
    event = load_event(slug, policy.can_view_event, policy.can_trace_downloads)
    form = TraceForm(formdata=request.args)
    raw = (form.download_id.data or "").strip()
    if not raw:
        return _trace_page(event, form, False)
    if not form.validate():
        return _trace_page(event, form, False, status=400)
    access, _entry = write_on_read(lambda: materials.look_up_download(current_user, event, raw))
    if access is None:
        form.download_id.errors = [*form.download_id.errors,
                                   f"No download of this event's materials has the id “{raw[:40]}”. "
                                   "Check the characters: the id is case-sensitive."]
        return _trace_page(event, form, True, status=404)
    entry = policy.participation(access.user, event) if access.user is not None else None
    return _trace_page(event, form, True, access=access, entry=entry)


@bp.post("/e/<slug>/manage/trace")
def trace_file(slug: str):
    """Hand in a leaked PDF, PNG or JPEG; the worker reads the ids it carries and the trace's page shows
    whose they are. Organizers and admins; 400 without a file, 413 over the size limit, 422 for a file
    of another type."""
    event = load_event(slug, policy.can_view_event, policy.can_trace_downloads)
    file_form = LeakFileForm()

    def refused(error, status):
        if isinstance(error, materials.MaterialTooLarge):
            return _too_large()
        if error.message not in file_form.file.errors:  # an expired form, say: said above the page
            flash(error.message, "error")
        return _trace_page(event, TraceForm(formdata=None), False, file_form=file_form,
                           status=422 if status == 409 else status)

    return run(lambda: materials.start_leak_trace(current_user, event, file_form.file.data.filename or "",
                                                  file_form.file.data.stream),
               lambda job: redirect(url_for("materials.trace_result", slug=slug, job_id=job.public_id), 303),
               form=file_form, refused=refused) or _trace_page(event, TraceForm(formdata=None), False,
                                                                 file_form=file_form, status=400)


@bp.get("/e/<slug>/manage/trace/<job_id>")
def trace_result(slug: str, job_id: str):
    """One trace of a leaked file: while the worker reads it, a page that reloads itself; then every id
    found, with the person, file and time of this event's downloads, and the others only as "not from
    this event". Organizers and admins; 404 for another event's trace."""
    event = load_event(slug, policy.can_view_event, policy.can_trace_downloads)
    job = materials.load_leak_trace(event, job_id) or abort(404)
    found = materials.leak_trace_outcome(event, job) if job.status.finished else []
    error = (job.result or {}).get("error") or job.error
    failed = job.status.finished and (job.result is None or bool(error))
    return render_template("materials/trace_result.html", event=event, job=job, found=found, error=error,
                           failed=failed)
