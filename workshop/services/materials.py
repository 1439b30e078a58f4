"""Materials: uploading a talk's files, serving them through the policy, and tracing leaked copies.

The bytes live in ``workshop.storage`` under a random key; the user's filename is only ever shown
and put into ``Content-Disposition``. Every request for a material leaves a ``MaterialAccess`` row,
allowed or denied, and every PDF, PNG and JPEG leaves stamped with the name of the person it was
served to; other files go out as they are, labelled "not watermarked".

An upload is two steps. The request only checks the size and the type and stores the bytes as sent:
a PDF or an image is then *processing*. The worker (``prepare_upload``, through the task
``prepare_material``) opens it in a child process with a time and memory budget, and keeps the
prepared, defused copy (*ready*) or the reason it cannot be stamped (*refused*, its bytes deleted).
Only a ready material is ever served.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

import filetype
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, selectinload

from .. import mail, policy, tasks
from ..extensions import db
from ..models import (
    AuditEntry,
    Event,
    Job,
    Material,
    MaterialAccess,
    MaterialState,
    Proposal,
    ProposalSpeaker,
    User,
    WideningKind,
    WideningRequest,
    public_id,
    utcnow,
)
from ..policy import Decision, Reason
from ..storage import StorageError, get_storage, new_key
from ..watermark import (
    MARK_CHARS,
    STAMPABLE,
    Found,
    StampError,
    can_stamp,
    find_against_originals,
    find_download_ids,
    limits_from_config,
    prepare,
    stamp,
)
from . import audit, jobs
from .errors import DomainError

PDF = "application/pdf"


@dataclass(frozen=True)
class Accepted:
    label: str
    extensions: tuple[str, ...]  # the first is added to a name whose extension does not match


# What speakers may upload, by the type detected from the bytes.
ACCEPTED: dict[str, Accepted] = {
    PDF: Accepted("PDF", ("pdf",)),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": Accepted("PowerPoint", ("pptx",)),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": Accepted("Word", ("docx",)),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": Accepted("Excel", ("xlsx",)),
    "application/vnd.oasis.opendocument.presentation": Accepted("OpenDocument presentation", ("odp",)),
    "application/vnd.oasis.opendocument.text": Accepted("OpenDocument text", ("odt",)),
    "application/vnd.oasis.opendocument.spreadsheet": Accepted("OpenDocument spreadsheet", ("ods",)),
    "image/png": Accepted("PNG image", ("png",)),
    "image/jpeg": Accepted("JPEG image", ("jpg", "jpeg")),
    "image/gif": Accepted("GIF image", ("gif",)),
    "image/webp": Accepted("WebP image", ("webp",)),
    # Office and OpenDocument files are ZIP archives; one the detector does not recognise keeps its name.
    "application/zip": Accepted("ZIP archive", ("zip", "pptx", "docx", "xlsx", "odp", "odt", "ods", "key")),
    "video/mp4": Accepted("MP4 video", ("mp4",)),
}
ACCEPTED_SUMMARY = ("PDF, PowerPoint (.pptx), Word (.docx), Excel (.xlsx), OpenDocument (.odp, .odt, .ods), "
                    "PNG, JPEG, GIF or WebP images, ZIP archives and MP4 video")

MAX_FILENAME = 150
# Bidirectional controls make "exe.pdf" display as "fdp.exe"; zero-width and other format
# characters (Unicode category Cf) hide text. None of them belongs in a file name.
_BIDI = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c")
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")


class MaterialTooLarge(DomainError):
    """The upload is over MATERIAL_MAX_BYTES; views answer 413."""

    def __init__(self, limit: int):
        super().__init__(f"The file is larger than the limit of {human_size(limit)}.", field="file")
        self.limit = limit


def human_size(size: int) -> str:
    """1536 → '1.5 KB'; sizes in powers of 1024, as file managers show them."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            if unit == "bytes":
                return f"{int(value)} byte{'s' if int(value) != 1 else ''}"
            return f"{value:.1f} {unit}".replace(".0 ", " ")
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


# --- names and types ----------------------------------------------------------------------


def sanitize_filename(name: str | None, fallback: str = "file") -> str:
    """A display name that cannot climb directories, break headers or lie about its extension.

    Basename only (both kinds of slash); no control, format or bidirectional characters; no
    leading dots; whitespace collapsed; at most MAX_FILENAME characters, keeping the extension.
    """
    text = unicodedata.normalize("NFC", str(name or ""))
    text = re.split(r"[/\\]", text)[-1]
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char in _BIDI or category in ("Cf", "Co", "Cs", "Cn"):
            continue
        if category == "Cc":
            kept.append(" " if char in "\t\n\r\v\f" else "")
        else:
            kept.append(" " if category in ("Zl", "Zp", "Zs") else char)
    text = " ".join("".join(kept).split()).lstrip(". ").rstrip(" ")
    if not text:
        return fallback
    if len(text) > MAX_FILENAME:
        match = _EXTENSION.search(text)
        extension = match.group(0) if match else ""
        text = text[: MAX_FILENAME - len(extension)].rstrip(" .") + extension
    return text or fallback


def _with_extension(name: str, accepted: Accepted) -> str:
    """Make the name's extension match the detected type, so the saved copy opens as what it is."""
    match = _EXTENSION.search(name)
    if match and match.group(1).lower() in accepted.extensions:
        return name
    extension = "." + accepted.extensions[0]
    if len(name) + len(extension) > MAX_FILENAME:
        name = name[: MAX_FILENAME - len(extension)].rstrip(" .")
    return name + extension


def _describe_unknown(data: bytes) -> str:
    """What an unaccepted file looks like, in words, for the refusal message."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head or head.startswith(b"<?xml") and b"svg" in head:
        return "an SVG image"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script")) or b"<html" in head:
        return "an HTML page"
    if head.startswith(b"<?xml"):
        return "an XML file"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "a file of a type Conclave does not recognise"
    return "a text file"


def detect_type(data: bytes) -> str:
    """The content type of ``data`` as detected from its bytes, when it is one Conclave accepts.

    Raises DomainError naming what was found and what is accepted.
    """
    kind = filetype.guess(data[:8192])
    if kind is not None and kind.mime != PDF:
        if kind.mime in ACCEPTED:
            return kind.mime
        found = f"of type {kind.extension.upper()} ({kind.mime})"
    elif b"%PDF-" in data[:1024]:
        return PDF
    else:
        found = _describe_unknown(data)
    raise DomainError(f"This file is {found}, whatever its name says. Accepted: {ACCEPTED_SUMMARY}.", field="file")


# --- storage bookkeeping ------------------------------------------------------------------
# Bytes are written before the row is committed and removed after the row's deletion is committed:
# a rolled-back upload takes its bytes with it, and a rolled-back deletion keeps them.

_WRITTEN, _TO_DELETE = "materials_written", "materials_to_delete"


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session) -> None:
    session.info.pop(_WRITTEN, None)
    for key in session.info.pop(_TO_DELETE, []):
        _forget_bytes(key)


@sa_event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session, previous_transaction) -> None:
    if previous_transaction.nested:
        return
    session.info.pop(_TO_DELETE, None)
    for key in session.info.pop(_WRITTEN, []):
        _forget_bytes(key)


def _forget_bytes(key: str) -> None:
    try:
        get_storage().delete(key)
    except (StorageError, RuntimeError) as error:  # an orphan object is harmless; a failed request is not
        current_app.logger.warning("could not delete material bytes %s…: %s", key[:6], error)


# --- uploading and deleting ---------------------------------------------------------------


def _read_upload(stream: BinaryIO) -> bytes:
    """An uploaded file's bytes; MaterialTooLarge over MATERIAL_MAX_BYTES, DomainError when empty."""
    limit = current_app.config["MATERIAL_MAX_BYTES"]
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise MaterialTooLarge(limit)
    if not data:
        raise DomainError("The file is empty.", field="file")
    return data


def store_upload(actor: User, proposal: Proposal, filename: str, stream: BinaryIO) -> Material:
    """A speaker adds a file to their proposal. The caller commits.

    Who may: ``policy.can_edit_proposal`` (confirmed speakers of a live proposal).
    Raises MaterialTooLarge over MATERIAL_MAX_BYTES; DomainError for an empty file, a type that is
    not accepted (detected from the bytes, never from the name), a file that cannot be watermarked
    for a talk that takes only watermarked ones, or storage that cannot be written.
    A PDF or an image is stored as sent and marked processing; the worker prepares it once the caller
    commits (``prepare_upload``). Any other file is ready at once, and served as it is.
    """
    if not policy.can_edit_proposal(actor, proposal):
        raise DomainError("Only the speakers of this talk may add materials to it.")
    data = _read_upload(stream)
    content_type = detect_type(data)
    stamped = can_stamp(content_type)
    if not stamped and policy.refuses_unstamped(proposal):
        raise DomainError(f"This talk takes only watermarked files, and a {type_label(content_type)} file cannot be "
                          "watermarked: only PDFs and PNG or JPEG images leave stamped with the name of the person "
                          "who opens them. Export it to PDF and upload that, or turn off “Only watermarked files” "
                          "below.", field="file")
    name = _with_extension(sanitize_filename(filename), ACCEPTED[content_type])
    key = new_key()
    try:
        get_storage().put(key, data)
    except StorageError as error:
        current_app.logger.error("material upload failed: %s", error)
        raise DomainError("The file could not be stored just now; please try again in a moment.") from error
    db.session.info.setdefault(_WRITTEN, []).append(key)
    material = Material(proposal_id=proposal.id, uploaded_by_id=actor.id, filename=name, content_type=content_type,
                        size=len(data), sha256=hashlib.sha256(data).hexdigest(), storage_key=key,
                        state=MaterialState.PROCESSING if stamped else MaterialState.READY)
    db.session.add(material)
    db.session.flush()
    audit.record(actor, proposal.event, "upload material", f"material {material.public_id}",
                 f"{name} ({content_type}, {len(data)} bytes) to proposal {proposal.public_id}")
    if stamped:
        tasks.after_commit("prepare_material", material.id)
    return material


# --- preparing, in the worker -------------------------------------------------------------

# A file is taken up again by the sweep when its task was lost; one that keeps failing (never
# through the file itself: that costs a StampError in a child process) is refused in the end.
MAX_PREPARE_ATTEMPTS = 5


def _refusal_message(material: Material, message: str) -> str:
    what = "a PDF" if material.is_pdf else "an image"
    return (f"{message} Conclave stamps every copy of {what} with the name of the person who opens it, and this "
            "one cannot be stamped, so it is not served. Delete it and upload a fixed copy.")


def prepare_upload(material_id: int) -> MaterialState | None:
    """The worker's half of an upload: keep the prepared copy of a processing material, or refuse it.

    Who may: the worker only (no actor). Safe to run twice, or by two workers at once: only a
    material still processing under the key it was read from changes, and the loser's copy is
    deleted with its rolled-back transaction. Commits. Returns the new state, or None when there was
    nothing to do. Raises StorageError when the upload cannot be read or the copy written (the
    task is retried, and the sweep takes it up again later).
    """
    material = db.session.get(Material, material_id)
    if material is None or material.state != MaterialState.PROCESSING or material.deleted_at is not None:
        return None
    original_key = material.storage_key
    material.prepare_attempts += 1
    attempts = material.prepare_attempts
    db.session.commit()
    if attempts > MAX_PREPARE_ATTEMPTS:
        return _refuse_upload(material, original_key, "Conclave could not finish checking this file.")
    data = get_storage().get(original_key)
    try:
        prepared = prepare(data, material.content_type, limits_from_config(current_app.config))
    except StampError as error:
        return _refuse_upload(material, original_key, error.message)
    key = new_key()
    get_storage().put(key, prepared.data)
    db.session.info.setdefault(_WRITTEN, []).append(key)
    updated = db.session.execute(
        sa.update(Material)
        .where(Material.id == material_id, Material.state == MaterialState.PROCESSING,
               Material.storage_key == original_key, Material.deleted_at.is_(None))
        .values(state=MaterialState.READY, storage_key=key, size=len(prepared.data),
                sha256=hashlib.sha256(prepared.data).hexdigest(), pages=prepared.pages,
                removed="; ".join(prepared.removed))
        .execution_options(synchronize_session=False))
    if updated.rowcount != 1:
        db.session.rollback()  # deleted, or prepared by another worker meanwhile: drop this copy
        return None
    db.session.info.setdefault(_TO_DELETE, []).append(original_key)
    proposal = material.proposal
    audit.record(None, proposal.event, "prepare material", f"material {material.public_id}",
                 f"{material.filename}: {prepared.pages} page(s), {len(prepared.data)} bytes"
                 + (f"; removed {', '.join(prepared.removed)}" if prepared.removed else ""))
    db.session.commit()
    return MaterialState.READY


def _refuse_upload(material: Material, original_key: str, message: str) -> MaterialState | None:
    refusal = _refusal_message(material, message)
    updated = db.session.execute(
        sa.update(Material)
        .where(Material.id == material.id, Material.state == MaterialState.PROCESSING,
               Material.storage_key == original_key)
        .values(state=MaterialState.REFUSED, refusal=refusal)
        .execution_options(synchronize_session=False))
    if updated.rowcount != 1:
        db.session.rollback()
        return None
    # The refused bytes are never served: they go. The row stays, to tell the speakers why.
    db.session.info.setdefault(_TO_DELETE, []).append(original_key)
    proposal = material.proposal
    audit.record(None, proposal.event, "refuse material", f"material {material.public_id}",
                 f"{material.filename}: {message}")
    db.session.commit()
    return MaterialState.REFUSED


def sweep_uploads(now: datetime | None = None) -> int:
    """Queue again the uploads still processing well after their task should have finished (a lost
    task, a dead worker). Safe at any time; returns how many were queued."""
    now = now or utcnow()
    grace = timedelta(seconds=max(120, 2 * float(current_app.config.get("PDF_PREPARE_SECONDS", 60))))
    ids = db.session.scalars(
        sa.select(Material.id).where(Material.state == MaterialState.PROCESSING, Material.deleted_at.is_(None),
                                     Material.created_at <= now - grace).order_by(Material.id).limit(1000)).all()
    db.session.rollback()
    for material_id in ids:
        tasks.enqueue_safely("prepare_material", material_id)
    return len(ids)


# --- settings: end of access, only watermarked files --------------------------------------


def set_expiry(actor: User, material: Material, expires_at: datetime | None,
               now: datetime | None = None) -> WideningRequest | None:
    """A speaker ends access to a file at ``expires_at`` (naive UTC; None: never). The caller commits.

    Who may: ``policy.can_set_material_expiry``. After that moment only the speakers and the
    organizers (as far as the tier lets them) open it. A moment already past ends access at once.
    An earlier end applies at once; a later one, or none where there was one, lets the file travel
    longer and waits for the other speakers' consent: returns that request (None when applied).
    Raises DomainError otherwise.
    """
    proposal = material.proposal
    if not policy.can_set_material_expiry(actor, proposal):
        raise DomainError("Only the speakers of this talk may end access to its materials.")
    from . import consent

    consent.lock_talk(proposal)
    db.session.refresh(material)
    now = now or utcnow()
    before = material.expires_at
    if expires_at == before:
        raise DomainError("Nothing changed: access to this file already ends then.", field="expires_at")
    if policy.expiry_change_widens(before, expires_at):
        awaited = policy.consent_awaited_from(actor, proposal)
        if awaited:
            return consent.ask(actor, proposal, awaited, WideningKind.EXPIRY,
                               f"“{material.filename}” open {_until(expires_at)} (was {_until(before)})",
                               material_id=material.id, expires_at=expires_at)
    apply_expiry(actor, material, expires_at, now)
    return None


def _until(moment: datetime | None) -> str:
    return f"until {moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "with no end"


def apply_expiry(actor: User | None, material: Material, expires_at: datetime | None,
                 now: datetime | None = None) -> None:
    """Set a file's end of access, audited; a waiting request to move it later is set aside."""
    from . import consent

    proposal = material.proposal
    now = now or utcnow()
    before = material.expires_at
    material.expires_at = expires_at
    ends = f"{expires_at:%Y-%m-%d %H:%M} UTC" if expires_at is not None else "never"
    audit.record(actor, proposal.event, "set material end of access", f"material {material.public_id}",
                 f"{material.filename}: access ends {ends}"
                 + (f" (was {before:%Y-%m-%d %H:%M} UTC)" if before is not None else "")
                 + (" (already past: ended now)" if expires_at is not None and expires_at <= now else ""))
    consent.supersede(actor, proposal, WideningKind.EXPIRY, material.id)
    policy.forget_memo()


def set_only_stamped(actor: User, proposal: Proposal, on: bool) -> int | WideningRequest:
    """A speaker lets the talk take only watermarked files, or any file again. The caller commits.

    Who may: ``policy.can_require_stamped`` (speakers of a session or restricted talk, or of a talk
    where it is on). Turning it on applies at once and returns how many of the talk's current files
    are not watermarked (and so no longer served to anyone but the speakers). Turning it off lets
    unwatermarked files out, so it waits for the other speakers' consent: returns that request.
    Raises DomainError otherwise.
    """
    if not policy.can_require_stamped(actor, proposal):
        raise DomainError("Only the speakers of a session or restricted talk may choose to take only "
                          "watermarked files.")
    from . import consent

    consent.lock_talk(proposal)
    if not on and proposal.only_stamped:
        awaited = policy.consent_awaited_from(actor, proposal)
        if awaited:
            return consent.ask(actor, proposal, awaited, WideningKind.ANY_FILE,
                               "any file type, files that cannot be watermarked served as they are")
    return apply_only_stamped(actor, proposal, on)


def apply_only_stamped(actor: User | None, proposal: Proposal, on: bool) -> int:
    """Set whether the talk takes only watermarked files, audited; returns how many of its files are
    not watermarked. A waiting request to take any file again is set aside."""
    from . import consent

    proposal.only_stamped = bool(on)
    unstamped = [m for m in db.session.scalars(sa.select(Material).where(
        Material.proposal_id == proposal.id, Material.deleted_at.is_(None))) if not m.stamped]
    audit.record(actor, proposal.event, "only watermarked files" if on else "any file type",
                 f"proposal {proposal.public_id}",
                 f"{len(unstamped)} file(s) not watermarked" + (" are no longer served" if on and unstamped else ""))
    consent.supersede(actor, proposal, WideningKind.ANY_FILE)
    policy.forget_memo()
    return len(unstamped)


def delete_material(actor: User, material: Material) -> None:
    """A speaker removes a file from their proposal; its bytes go once the caller commits.

    Who may: ``policy.can_edit_proposal``. Raises DomainError otherwise.
    """
    proposal = material.proposal
    if not policy.can_edit_proposal(actor, proposal):
        raise DomainError("Only the speakers of this talk may remove its materials.")
    audit.record(actor, proposal.event, "delete material", f"material {material.public_id}",
                 f"{material.filename} from proposal {proposal.public_id}")
    db.session.info.setdefault(_TO_DELETE, []).append(material.storage_key)
    material.deleted_at = utcnow()


# --- serving ------------------------------------------------------------------------------


def watermark_lines(user, when: datetime, download_id: str) -> list[str]:
    """What every page of a served PDF says about the copy: who, when, which download."""
    stamp = f"{when:%Y-%m-%d %H:%M} UTC"
    if not getattr(user, "is_authenticated", False):
        return ["Public copy", stamp, f"download id {download_id}"]
    who = [user.display_name] if user.display_name == user.email else [user.display_name, user.email]
    return [*who, stamp, f"download id {download_id}"]


def open_material(user, material: Material, ip: str, now: datetime | None = None
                  ) -> tuple[Decision, bytes | None, MaterialAccess]:
    """Decide a request for ``material`` and log it. The caller commits the log row.

    Anyone may ask; ``policy.download_decision`` answers (a view-only file opens in the reader instead).
    The returned bytes are set only when the request is allowed, and for a PDF, PNG or JPEG they are
    a copy of the prepared file stamped for this person (other types go out as they are, labelled so).
    A file that cannot be stamped, or bytes that cannot be read, turn the answer into a refusal (reason
    ``cannot be stamped`` or ``file unavailable``): nothing stampable is ever served unstamped.
    """
    now = now or utcnow()
    decision = policy.download_decision(user, material, now)  # a view-only file opens in the reader instead
    signed_in = bool(getattr(user, "is_authenticated", False))
    access = MaterialAccess(download_id=public_id(), material_id=material.id,
                            user_id=user.id if signed_in else None, allowed=decision.allowed,
                            reason=decision.reason.value, ip=(ip or "")[:64], created_at=now)
    db.session.add(access)
    if not decision.allowed:
        return decision, None, access
    try:
        data = get_storage().get(material.storage_key)
        if material.stamped:
            lines = watermark_lines(user, now, access.download_id)
            data = stamp(data, material.content_type, lines, access.download_id,
                         limits_from_config(current_app.config))
    except StampError as error:
        current_app.logger.warning("material %s cannot be stamped: %s", material.public_id, error.message)
        return _refuse(access, Reason.CANNOT_BE_STAMPED), None, access
    except (StorageError, RuntimeError) as error:
        current_app.logger.error("material %s cannot be read: %s", material.public_id, error)
        return _refuse(access, Reason.FILE_UNAVAILABLE), None, access
    return decision, data, access


def _refuse(access: MaterialAccess, reason: Reason) -> Decision:
    access.allowed, access.reason = False, reason.value
    return Decision(False, reason, True)


def served_content_type(material: Material) -> str:
    """PDFs and images go out as what they are (stamped, re-encoded); anything else as bytes to save,
    never to render."""
    return material.content_type if material.stamped else "application/octet-stream"


# --- the access log and tracing -----------------------------------------------------------

DOWNLOAD_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,24}")


def clean_download_id(text: str | None) -> str | None:
    """What an organizer pasted from a leaked copy ('download id AbC…', with spaces) → the id, or None."""
    words = (text or "").replace("\u00a0", " ").split()
    if not words:
        return None
    candidate = words[-1].strip(".,;:()[]<>\"'")
    return candidate if DOWNLOAD_ID_RE.fullmatch(candidate) else None


def trace_download(event: Event, download_id: str) -> MaterialAccess | None:
    """The access row behind a download id found in a leaked copy, among this event's materials only.

    Who may: ``policy.can_trace_downloads`` (the view checks). Returns None for an unknown id.
    """
    download_id = clean_download_id(download_id)
    if download_id is None:
        return None
    return db.session.scalar(
        sa.select(MaterialAccess)
        .join(Material, MaterialAccess.material_id == Material.id)
        .join(Proposal, Material.proposal_id == Proposal.id)
        .where(MaterialAccess.download_id == download_id, Proposal.event_id == event.id)
        .options(selectinload(MaterialAccess.user),
                 selectinload(MaterialAccess.material).selectinload(Material.proposal))
    )


def look_up_download(actor: User, event: Event, raw: str) -> tuple[MaterialAccess | None, AuditEntry]:
    """``trace_download`` for an organizer who typed an id, recorded in the audit log whatever it finds:
    the access row (or None) and the audit entry. Who may: ``policy.can_trace_downloads`` (the view
    checks). The caller commits."""
    access = trace_download(event, raw)
    shown = clean_download_id(raw) or raw.strip()[:40]
    entry = audit.record(actor, event, "trace download id", f"material {access.material.public_id}" if access
                         else "", f"download id {shown}: " + ("found" if access else "no download of this event"))
    return access, entry


# Tracing from evidence: an organizer hands in a leaked PDF, PNG or JPEG; the worker reads every download
# id it carries (the visible line and the forensic mark, ``watermark.find_download_ids``) and the page names
# the people behind the ids of this event's materials. Reading a file takes seconds, so it is a job.

TRACE_KIND = "trace leak"
LEAK_TYPES = {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG"}


@dataclass(frozen=True)
class TracedId:
    """A download id found in a leaked file: how and on which pages, and the access row behind it, or
    None when it is not a download of this event's materials (nothing more is said about it)."""

    download_id: str
    how: tuple[str, ...]
    pages: tuple[int, ...]
    access: MaterialAccess | None


def leak_type(data: bytes) -> str | None:
    """'PDF', 'PNG' or 'JPEG' from the bytes (never from a name), or None."""
    if b"%PDF-" in data[:1024]:
        return "PDF"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    return None


def accesses_by_download_id(event: Event | None, download_ids) -> dict[str, MaterialAccess]:
    """The access rows behind ``download_ids``, among ``event``'s materials only (every event's when None:
    the command line), keyed by the id as given. An id of ``MARK_CHARS`` characters is the beginning of
    one, as the forensic mark carries it: it names the one download that begins so, and nobody when
    none does or (48 random bits apart, never in practice) several do. One query."""
    download_ids = {d for d in download_ids if DOWNLOAD_ID_RE.fullmatch(d or "")}
    if not download_ids:
        return {}
    prefixes = {d for d in download_ids if len(d) == MARK_CHARS}
    wanted = MaterialAccess.download_id.in_(download_ids - prefixes)
    if prefixes:  # = compares case and all (LIKE would not, in SQLite), on the index of the first 8 characters
        wanted = sa.or_(wanted, sa.func.substr(MaterialAccess.download_id, 1, MARK_CHARS).in_(prefixes))
    statement = (sa.select(MaterialAccess)
                 .join(Material, MaterialAccess.material_id == Material.id)
                 .join(Proposal, Material.proposal_id == Proposal.id)
                 .where(wanted)
                 .options(selectinload(MaterialAccess.user),
                          selectinload(MaterialAccess.material).selectinload(Material.proposal)
                          .selectinload(Proposal.event)))
    if event is not None:
        statement = statement.where(Proposal.event_id == event.id)
    found: dict[str, MaterialAccess] = {}
    begun: dict[str, list[MaterialAccess]] = {}
    for access in db.session.scalars(statement):
        if access.download_id in download_ids:
            found[access.download_id] = access
        if access.download_id[:MARK_CHARS] in prefixes:
            begun.setdefault(access.download_id[:MARK_CHARS], []).append(access)
    found.update((prefix, accesses[0]) for prefix, accesses in begun.items() if len(accesses) == 1)
    return found


def start_leak_trace(actor: User, event: Event, filename: str | None, stream: BinaryIO) -> Job:
    """An organizer hands in a leaked file to find whose copy it was; the worker reads it. The caller commits.

    Who may: ``policy.can_trace_downloads``. The file is kept (outside the web root) only until the
    worker has read it. Raises MaterialTooLarge over MATERIAL_MAX_BYTES, DomainError for an empty file,
    a type other than PDF, PNG or JPEG (from the bytes), or storage that cannot be written.
    """
    if not policy.can_trace_downloads(actor, event):
        raise DomainError("Only the organizers of this event may trace leaked copies.")
    data = _read_upload(stream)
    label = leak_type(data)
    if label is None:
        raise DomainError(f"Conclave reads download ids from PDF, PNG and JPEG files; this is "
                          f"{_describe_unknown(data)}. Save the page as an image or print it to PDF.", field="file")
    name = sanitize_filename(filename, "leaked file")
    key = new_key()
    try:
        get_storage().put(key, data)
    except StorageError as error:
        current_app.logger.error("leaked file could not be stored: %s", error)
        raise DomainError("The file could not be stored just now; please try again in a moment.") from error
    db.session.info.setdefault(_WRITTEN, []).append(key)
    job = jobs.start(TRACE_KIND, event=event, actor=actor, params={
        "key": key, "filename": name, "type": label, "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest()})
    audit.record(actor, event, "trace leak", "", f"{name} ({label}, {human_size(len(data))}, sha256 "
                 f"{hashlib.sha256(data).hexdigest()[:16]}…) handed in to be traced")
    return job


@jobs.handler(TRACE_KIND)
def _trace_leak_job(run: jobs.JobRun) -> dict:
    """The worker's side: read the file, note what it carries, and forget the file once the outcome is
    committed. Run twice (after a crash) it reads the same file again and writes the same outcome."""
    job, params = run.job, run.params
    event = db.session.get(Event, job.event_id)
    run.progress(0, 1, "reading the file")
    try:
        data = get_storage().get(params["key"])
    except StorageError:
        return {"error": "The file handed in is no longer stored; hand it in again.", "found": []}
    try:
        traced = traced_ids(event, read_leak(event, data, limits_from_config(current_app.config),
                                             lambda: run.progress(0, 1, "comparing it with the event's files")))
    except StampError as error:
        result, traced = {"error": error.message, "found": []}, []
    else:
        result = {"found": [{"download_id": t.download_id, "how": list(t.how), "pages": list(t.pages)}
                            for t in traced]}
    ours = [t.download_id for t in traced if t.access is not None]
    others = len(traced) - len(ours)
    outcome = (f"names download(s) {', '.join(ours)}" if ours else "names nobody of this event")
    audit.record(job.started_by, event, "leak traced", "",
                 f"{params.get('filename', 'file')}: {outcome}"
                 + (f"; {others} id(s) not from this event" if others else "")
                 + (f" ({result['error']})" if result.get("error") else ""))
    db.session.info.setdefault(_TO_DELETE, []).append(params["key"])  # gone once the outcome is committed
    return result


def read_leak(event: Event | None, data: bytes, limits, comparing=lambda: None) -> list[Found]:
    """Every download id a leaked file carries (``find_download_ids``), and, when none is a download of
    ``event``'s materials (of any event's when None), the mark read against the event's own files
    (``find_against_originals``; ``comparing`` is called first). Raises StampError for a file that
    cannot be read."""
    found = find_download_ids(data, limits)
    if accesses_by_download_id(event, [f.download_id for f in found]):
        return found
    comparing()
    return found + find_against_originals(data, originals(event), limits)


def traced_ids(event: Event | None, found: list[Found]) -> list[TracedId]:
    """What ``read_leak`` found, each id with ``event``'s access row behind it (any event's when None) or
    None. A mark's 8 characters are completed to the download's whole id, and what turns out to be one
    download (its visible line and its mark) is one row; so is a mark of nobody here with the visible
    id it begins. One query."""
    named = accesses_by_download_id(event, [f.download_id for f in found])
    unknown = {f.download_id for f in found if f.download_id not in named and len(f.download_id) > MARK_CHARS}
    rows: dict[str, TracedId] = {}
    for item in found:
        access = named.get(item.download_id)
        key = access.download_id if access is not None else next(
            (whole for whole in sorted(unknown) if whole[:MARK_CHARS] == item.download_id), item.download_id)
        before = rows.get(key)
        if before is None:
            rows[key] = TracedId(key, item.how, item.pages, access)
        else:
            rows[key] = TracedId(key, before.how + tuple(h for h in item.how if h not in before.how),
                                 tuple(sorted(set(before.pages) | set(item.pages))), before.access or access)
    return list(rows.values())


def originals(event: Event | None):
    """The prepared copies of ``event``'s stamped materials (every event's when None), newest first, one
    at a time, with their content types: what a leak is compared with when its mark cannot be read alone.
    A file the storage cannot give is passed over."""
    statement = (sa.select(Material.storage_key, Material.content_type)
                 .join(Proposal, Material.proposal_id == Proposal.id)
                 .where(Material.state == MaterialState.READY, Material.deleted_at.is_(None),
                        Material.content_type.in_(STAMPABLE))
                 .order_by(Material.id.desc()))
    if event is not None:
        statement = statement.where(Proposal.event_id == event.id)
    for key, content_type in db.session.execute(statement).all():
        try:
            yield get_storage().get(key), content_type
        except StorageError:
            current_app.logger.warning("a prepared material could not be read to trace a leak")


def load_leak_trace(event: Event, job_public_id: str) -> Job | None:
    """A trace of ``event`` by its public id; None for another event's, or any other kind of job."""
    job = jobs.get(job_public_id) if len(job_public_id or "") <= 24 else None
    return job if job is not None and job.kind == TRACE_KIND and job.event_id == event.id else None


def leak_trace_outcome(event: Event, job: Job) -> list[TracedId]:
    """What a finished trace found, each id with this event's access row behind it (or None)."""
    return traced_ids(event, [Found(row["download_id"], tuple(row.get("how", ())), tuple(row.get("pages", ())))
                              for row in (job.result or {}).get("found", [])])


def recent_leak_traces(event: Event, limit: int = 5) -> list[Job]:
    return list(db.session.scalars(jobs.jobs_of_event(event, TRACE_KIND).options(selectinload(Job.started_by))
                                   .limit(limit)))


def notify_revocation(event: Event, user: User | None) -> int:
    """Tell the speakers whose materials ``user`` had opened that this person was revoked.

    One message per speaker, listing that speaker's materials the person downloaded (allowed
    requests only). Called when an organizer revokes someone; the caller commits. Returns the
    number of messages queued.
    """
    if user is None:
        return 0
    rows = db.session.execute(
        sa.select(Material, sa.func.min(MaterialAccess.created_at), sa.func.max(MaterialAccess.created_at),
                  sa.func.count(MaterialAccess.id))
        .join(MaterialAccess, MaterialAccess.material_id == Material.id)
        .join(Proposal, Material.proposal_id == Proposal.id)
        .where(Proposal.event_id == event.id, MaterialAccess.user_id == user.id, MaterialAccess.allowed.is_(True))
        .group_by(Material.id)
        .options(selectinload(Material.proposal))
    ).all()
    if not rows:
        return 0
    speakers = db.session.execute(
        sa.select(ProposalSpeaker.proposal_id, User)
        .join(User, ProposalSpeaker.user_id == User.id)
        .where(ProposalSpeaker.proposal_id.in_({material.proposal_id for material, *_ in rows}),
               ProposalSpeaker.confirmed.is_(True), ProposalSpeaker.user_id != user.id)
    ).all()
    by_proposal: dict[int, list[User]] = defaultdict(list)
    for proposal_id, speaker in speakers:
        by_proposal[proposal_id].append(speaker)
    per_speaker: dict[int, tuple[User, list]] = {}
    for material, first, last, count in rows:
        for speaker in by_proposal[material.proposal_id]:
            per_speaker.setdefault(speaker.id, (speaker, []))[1].append(
                {"material": material, "proposal": material.proposal, "first": first, "last": last, "count": count})
    for speaker, downloads in per_speaker.values():
        downloads.sort(key=lambda d: (d["proposal"].title.lower(), d["material"].filename.lower()))
        mail.queue(speaker.email, f"{mail.clean_header(user.display_name, 80)} no longer has access to "
                   f"{event.title}", "revoked_downloader", event=event, speaker=speaker, person=user,
                   downloads=downloads)
    if per_speaker:
        audit.record(None, event, "notify speakers", f"user {user.email}",
                     f"{len(per_speaker)} speaker(s) told of the revocation")
    return len(per_speaker)


def type_label(content_type: str) -> str:
    """'application/pdf' → 'PDF', for lists."""
    accepted = ACCEPTED.get(content_type)
    return accepted.label if accepted is not None else "File"
