"""The invite list: candidates, nominations, waves, answers, capacity and the waitlist."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from .. import mail, policy
from ..extensions import db
from ..models import (
    Candidate,
    CandidateStatus,
    CandidateTag,
    Event,
    EventStatus,
    Invitation,
    InviteWave,
    MessageStatus,
    OutboxMessage,
    User,
    Vouch,
    WaveKind,
    utcnow,
)
from ..text import csv_safe
from . import accounts, audit
from .errors import DomainError
from .materials import notify_revocation
from .signups import fill_from_waitlist as fill_session_waitlist
from .signups import release_seats
from .tokens import hash_token, new_token

S = CandidateStatus
INVALID_INVITATION = (
    "This invitation link is not valid. It may have expired, been replaced by a newer email, "
    "or already been answered. Ask the organizers for a new one."
)
TAG_RE = re.compile(r"^[\w][\w .+-]{0,39}$")
MAX_REMINDER_DAY = 60


# --- adding people ------------------------------------------------------------------------


def parse_tags(text: str) -> list[str]:
    """'ml, Safety ,ml' → ['ml', 'safety']; raises DomainError for an unusable tag."""
    tags: list[str] = []
    for raw in (text or "").replace(";", ",").split(","):
        tag = " ".join(raw.split()).lower()
        if not tag:
            continue
        if not TAG_RE.match(tag):
            raise DomainError(f"“{tag[:40]}” is not a usable tag: letters, digits, spaces, . + - only, 40 at most.",
                              field="tags")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > 20:
        raise DomainError("Twenty tags at most.", field="tags")
    return tags


def _existing(event: Event, email: str) -> Candidate | None:
    return db.session.scalar(sa.select(Candidate).where(Candidate.event_id == event.id, Candidate.email == email))


def add_candidate(actor: User, event: Event, email: str, name: str = "", affiliation: str = "",
                  approved: bool = False, tags: str = "", notes: str = "") -> Candidate:
    """Organizers add one person. Raises DomainError for a bad or duplicate address."""
    email = accounts.normalize_email(email)
    if _existing(event, email) is not None:
        raise DomainError(f"{email} is already on the invite list.", field="email")
    candidate = Candidate(event_id=event.id, email=email, name=name.strip()[:200],
                          affiliation=affiliation.strip()[:200], notes=notes,
                          status=S.APPROVED if approved else S.PROPOSED)
    candidate.tags = [CandidateTag(tag=t) for t in parse_tags(tags)]
    db.session.add(candidate)
    db.session.flush()
    audit.record(actor, event, "add candidate", f"candidate {email}", str(candidate.status))
    return candidate


def update_candidate(actor: User, candidate: Candidate, name: str, affiliation: str, notes: str, tags: str) -> None:
    """Organizers edit a person's name, affiliation, private notes and tags."""
    new_tags = parse_tags(tags)
    before = {"name": candidate.name, "affiliation": candidate.affiliation, "notes": candidate.notes,
              "tags": candidate.tag_names}
    candidate.name = name.strip()[:200]
    candidate.affiliation = affiliation.strip()[:200]
    candidate.notes = notes
    candidate.tags = [CandidateTag(tag=t) for t in new_tags]
    audit.record_changes(actor, candidate.event, "edit candidate", f"candidate {candidate.email}", before,
                         {"name": candidate.name, "affiliation": candidate.affiliation, "notes": notes,
                          "tags": new_tags}, {"notes": "private notes"})


def search(statement: sa.Select, status: CandidateStatus | None, tag: str, text: str) -> sa.Select:
    """The invite list narrowed to one status, one tag, and people whose name, email or affiliation
    holds ``text``."""
    if status is not None:
        statement = statement.where(Candidate.status == status)
    if tag:
        statement = statement.where(
            sa.exists().where(CandidateTag.candidate_id == Candidate.id, CandidateTag.tag == tag))
    if text:
        pattern = text.lower()
        statement = statement.where(sa.or_(
            sa.func.lower(Candidate.email).contains(pattern, autoescape=True),
            sa.func.lower(Candidate.name).contains(pattern, autoescape=True),
            sa.func.lower(Candidate.affiliation).contains(pattern, autoescape=True),
        ))
    return statement


# --- CSV import ---------------------------------------------------------------------------


IMPORT_FIELDS = ("email", "name", "affiliation", "tags")
IGNORE = "ignore"
# Header spellings people use, compared without case, spaces or punctuation ("E-mail" → "email").
HEADER_ALIASES = {
    "email": "email", "emailaddress": "email", "mail": "email", "emails": "email",
    "name": "name", "fullname": "name", "yourname": "name", "person": "name", "participant": "name",
    "affiliation": "affiliation", "organisation": "affiliation", "organization": "affiliation",
    "institution": "affiliation", "company": "affiliation", "employer": "affiliation", "lab": "affiliation",
    "tags": "tags", "tag": "tags", "labels": "tags", "keywords": "tags",
}


def guess_columns(header: list[str]) -> list[str]:
    """What each header column holds, by its usual spellings; IGNORE for the rest. A field named twice is
    taken from its first column."""
    columns: list[str] = []
    for title in header:
        guess = HEADER_ALIASES.get(re.sub(r"[^a-z]", "", title.lower()), IGNORE)
        columns.append(IGNORE if guess in columns else guess)
    return columns


@dataclass
class ImportRow:
    line: int
    email: str
    name: str
    affiliation: str
    tags: list[str]
    errors: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)  # the row as the file had it, for the bad-rows download


@dataclass
class ImportPreview:
    rows: list[ImportRow]
    file_errors: list[str]
    header: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # what each header column is read as

    @property
    def bad_rows(self) -> list[ImportRow]:
        return [r for r in self.rows if r.errors]

    @property
    def good_rows(self) -> list[ImportRow]:
        return [r for r in self.rows if not r.errors]

    @property
    def ok(self) -> bool:
        return not self.file_errors and not self.bad_rows and bool(self.rows)

    @property
    def importable(self) -> bool:
        """Whether the good rows may be imported alone (some rows are good, and the file itself is readable)."""
        return not self.file_errors and bool(self.good_rows)

    @property
    def needs_mapping(self) -> bool:
        """The organizer should say what the columns hold: no email column was recognised, or some column
        is read as nothing."""
        return bool(self.header) and ("email" not in self.columns or IGNORE in self.columns)

    @property
    def columns_text(self) -> str:
        return ",".join(self.columns)


def parse_columns(raw: list[str] | str | None) -> list[str] | None:
    """The organizer's column choices ("email,name,ignore" or a list); None when none were made.
    Raises DomainError for a choice that is not a field."""
    if raw is None:
        return None
    choices = [c.strip() for c in (raw.split(",") if isinstance(raw, str) else raw)]
    if not any(choices):
        return None
    for choice in choices:
        if choice not in (*IMPORT_FIELDS, IGNORE):
            raise DomainError(f"“{choice[:20]}” is not a column this import reads.")
    return choices


def preview_import(event: Event, text: str, columns: list[str] | None = None) -> ImportPreview:
    """Check a CSV: a header row, then one person a line. The columns are recognised by their usual
    spellings (Email, E-mail, Email Address, Full name, Organisation…) unless ``columns`` says what each
    holds (one of IMPORT_FIELDS, or IGNORE).

    Reports every bad row by its line number; writes nothing.
    """
    text = text.lstrip("\ufeff")
    if "\x00" in text:
        return ImportPreview([], ["The file is not a text CSV file."])
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error):
        return ImportPreview([], ["The file is empty. The first row must name the columns, "
                                  "e.g. email,name,affiliation,tags."])
    problems: list[str] = []
    if columns is not None and len(columns) != len(header):
        problems.append("The column choices did not match this file's columns; check them again below.")
        columns = None
    columns = columns if columns is not None else guess_columns(header)
    chosen = [c for c in columns if c != IGNORE]
    if len(chosen) != len(set(chosen)):
        return ImportPreview([], ["Two columns are read as the same field; choose one of them."], header, columns)
    if "email" not in columns:
        found = ", ".join(h or "(blank)" for h in header) or "nothing"
        return ImportPreview([], [f"Line 1: no column holds the email addresses (found: {found}). "
                                  "Choose below which column does."], header, columns)
    index = {name: columns.index(name) for name in IMPORT_FIELDS if name in columns}
    existing = set(db.session.scalars(sa.select(Candidate.email).where(Candidate.event_id == event.id)))
    seen: dict[str, int] = {}
    rows: list[ImportRow] = []
    limit = current_app.config["CSV_IMPORT_MAX_ROWS"]
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= limit:
                return ImportPreview(rows, [f"The file has more than {limit:,} rows; split it into smaller files."],
                                     header, columns)

            def cell(name: str, record: list[str] = record) -> str:
                position = index.get(name)
                return record[position].strip() if position is not None and position < len(record) else ""

            row = ImportRow(line=line, email=cell("email"), name=cell("name")[:200],
                            affiliation=cell("affiliation")[:200], tags=[], cells=list(record))
            if len(record) < len(header):
                row.errors.append(f"has {len(record)} columns, the header has {len(header)}")
            if not row.email:
                row.errors.append("the email is missing")
            else:
                try:
                    row.email = accounts.normalize_email(row.email)
                except DomainError:
                    row.errors.append(f"“{row.email[:80]}” is not a valid email address")
                else:
                    if row.email in seen:
                        row.errors.append(f"{row.email} also appears on line {seen[row.email]}")
                    elif row.email in existing:
                        row.errors.append(f"{row.email} is already on the invite list")
                    seen.setdefault(row.email, line)
            try:
                row.tags = parse_tags(cell("tags"))
            except DomainError as error:
                row.errors.append(error.message)
            rows.append(row)
    except csv.Error as error:
        return ImportPreview(rows, [f"Line {reader.line_num}: the file is not valid CSV ({error})."], header, columns)
    if not rows:
        return ImportPreview([], ["The file has a header but no people."], header, columns)
    return ImportPreview(rows, problems, header, columns)


def import_candidates(actor: User, event: Event, text: str, approved: bool = False,
                      columns: list[str] | None = None, only_good: bool = False) -> ImportPreview:
    """Import a checked CSV. Nothing is written unless every row is good, or, with ``only_good``, unless
    the file is readable and some rows are good: then those are imported and the bad ones left out.
    Raises DomainError otherwise."""
    preview = preview_import(event, text, columns)
    if not (preview.importable if only_good else preview.ok):
        raise DomainError("The file still has problems; nothing was imported.")
    status = S.APPROVED if approved else S.PROPOSED
    for row in preview.good_rows:
        candidate = Candidate(event_id=event.id, email=row.email, name=row.name, affiliation=row.affiliation,
                              status=status)
        candidate.tags = [CandidateTag(tag=t) for t in row.tags]
        db.session.add(candidate)
    skipped = f"; {len(preview.bad_rows)} bad rows left out" if preview.bad_rows else ""
    audit.record(actor, event, "import candidates", f"{len(preview.good_rows)} people", f"{status}{skipped}")
    return preview


def bad_rows_csv(preview: ImportPreview) -> str:
    """The rows that could not be imported, as the file had them, with the reason per line (formula-safe),
    so that they can be fixed and imported again."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*(csv_safe(h) for h in preview.header), "line", "problem"])
    for row in preview.bad_rows:
        cells = row.cells + [""] * (len(preview.header) - len(row.cells))
        writer.writerow([*(csv_safe(c) for c in cells), row.line, csv_safe("; ".join(row.errors))])
    return out.getvalue()


# --- nominations --------------------------------------------------------------------------


def nominate(nominator: User, event: Event, email: str, name: str, affiliation: str, note: str) -> None:
    """An attendee vouches for someone. The answer is the same whether or not they were on the list."""
    if not policy.can_nominate(nominator, event):
        raise DomainError("Nominations are open to attendees while the event is taking invitations.")
    note = (note or "").strip()
    if len(note) < 10:
        raise DomainError("Say in a sentence why you vouch for them.", field="note")
    email = accounts.normalize_email(email)
    if email == nominator.email:
        raise DomainError("You cannot nominate yourself.", field="email")
    candidate = _existing(event, email)
    if candidate is None:
        candidate = Candidate(event_id=event.id, email=email, name=name.strip()[:200],
                              affiliation=affiliation.strip()[:200], status=S.PROPOSED)
        db.session.add(candidate)
        db.session.flush()
    vouch = db.session.scalar(sa.select(Vouch).where(Vouch.candidate_id == candidate.id,
                                                     Vouch.user_id == nominator.id))
    if vouch is None:
        db.session.add(Vouch(candidate_id=candidate.id, user_id=nominator.id, note=note[:2000]))
    else:
        vouch.note = note[:2000]
    audit.record(nominator, event, "nominate", f"candidate {email}")


@dataclass
class VouchLink:
    """One vouch in a chain: who vouched (and their own place on the list), their note, and how they came to
    be on the list themselves (``vouched_by``), back to someone the organizers added."""

    voucher: User
    note: str
    created_at: object
    entry: Candidate | None  # the voucher's own place on this event's list
    vouched_by: list[VouchLink] = field(default_factory=list)
    loop: bool = False  # the voucher appears earlier in this chain: it stops here

    @property
    def origin(self) -> str:
        """How the chain ends at this voucher: "organizers" (added by them), "loop", or "" (it goes on)."""
        if self.loop:
            return "loop"
        return "" if self.vouched_by else "organizers"


def vouch_chain(candidate: Candidate) -> list[VouchLink]:
    """Who vouched for ``candidate``, who vouched for each of them, and so on back to people the organizers
    added (a person nobody vouched for). Two queries whatever the length of the chains: the event's vouches,
    and the vouchers' places on its list. Who may: organizers (the caller checks)."""
    event_id = candidate.event_id
    vouches = db.session.execute(
        sa.select(Vouch, User).join(User, Vouch.user_id == User.id).join(Candidate, Vouch.candidate_id == Candidate.id)
        .where(Candidate.event_id == event_id).order_by(Vouch.created_at, Vouch.id)).all()
    by_candidate: dict[int, list[tuple[Vouch, User]]] = {}
    for vouch, user in vouches:
        by_candidate.setdefault(vouch.candidate_id, []).append((vouch, user))
    voucher_ids = {user.id for _vouch, user in vouches}
    entries = {c.user_id: c for c in db.session.scalars(sa.select(Candidate).where(
        Candidate.event_id == event_id, Candidate.user_id.in_(voucher_ids)))} if voucher_ids else {}

    def links(of: Candidate, seen: frozenset[int]) -> list[VouchLink]:
        result = []
        for vouch, user in by_candidate.get(of.id, []):
            entry = entries.get(user.id)
            link = VouchLink(user, vouch.note, vouch.created_at, entry)
            if entry is not None and entry.id in seen:
                link.loop = True
            elif entry is not None:
                link.vouched_by = links(entry, seen | {entry.id})
            result.append(link)
        return result

    return links(candidate, frozenset({candidate.id}))


# --- organizer actions on many people -----------------------------------------------------


@dataclass
class BulkResult:
    done: list[Candidate] = field(default_factory=list)
    skipped: list[Candidate] = field(default_factory=list)
    wave: InviteWave | None = None  # the wave an invitation or reminder action queued


def approve(actor: User, event: Event, candidates: Iterable[Candidate]) -> BulkResult:
    result = BulkResult()
    for candidate in candidates:
        if policy.candidate_ready_for(candidate, "approve"):
            audit.record(actor, event, "approve", f"candidate {candidate.email}", f"{candidate.status} → approved")
            candidate.status = S.APPROVED
            result.done.append(candidate)
        else:
            result.skipped.append(candidate)
    return result


def _wave_subject(kind: WaveKind, event: Event) -> str:
    return (f"Reminder: your invitation to {event.title}" if kind == WaveKind.REMINDER
            else f"You are invited to {event.title}")


def parse_reminder_days(days: Iterable[int] | str | None) -> list[int]:
    """'3, 7' or [7, 3] → [3, 7]: days after a wave on which those who have not answered are reminded."""
    if days is None:
        return []
    raw = days.replace(";", ",").split(",") if isinstance(days, str) else list(days)
    parsed: set[int] = set()
    for item in raw:
        text = str(item).strip()
        if not text:
            continue
        if not text.isdigit() or not 1 <= int(text) <= MAX_REMINDER_DAY:
            raise DomainError(f"Reminders are whole days after the invitation, from 1 to {MAX_REMINDER_DAY}: "
                              f"“{text[:20]}” is not.", field="reminder_days")
        parsed.add(int(text))
    if len(parsed) > 5:
        raise DomainError("Five reminders at most.", field="reminder_days")
    return sorted(parsed)


def send_wave(actor: User, event: Event, candidates: Iterable[Candidate],
              reminder_days: Iterable[int] | str | None = None) -> BulkResult:
    """Invite approved (or expired) people. A draft event moves to 'inviting' with its first wave.

    The emails are queued at once and sent by the worker, which mints each link as it sends it
    (so a wave of any size answers at once). ``reminder_days`` (e.g. [3, 7]): on those days after
    the wave, those who have not answered get a reminder with a fresh link.
    """
    if event.status in (EventStatus.CLOSED, EventStatus.ARCHIVED):
        raise DomainError("This event is closed; it sends no more invitations.")
    days = parse_reminder_days(reminder_days)
    eligible, result = [], BulkResult()
    for candidate in candidates:
        (eligible if policy.candidate_ready_for(candidate, "invite") else result.skipped).append(candidate)
    if not eligible:
        return result
    if event.status == EventStatus.DRAFT:
        event.status = EventStatus.INVITING
        audit.record(actor, event, "change status", f"event {event.slug}", "draft → inviting (first wave)")
    # The link's lifetime starts when its email is sent.
    changes = {"status": S.INVITED, "invited_at": utcnow(), "invite_expires_at": None}
    _send_links(actor, event, eligible, WaveKind.INVITATION, result, changes, days)
    return result


def _send_links(actor: User | None, event: Event, people: list[Candidate], kind: WaveKind, result: BulkResult,
                changes: dict, reminder_days: list[int] = ()) -> InviteWave:
    """One wave: ``changes`` to each person, a new invitation each (superseding their older links)
    under one InviteWave, and one queued email each.

    Written with a few statements per 500 people rather than a few per person, so that a wave
    of thousands answers at once.
    """
    wave = InviteWave(event_id=event.id, kind=kind, size=len(people), sent_by_id=actor.id if actor else None,
                      reminder_days=list(reminder_days))
    db.session.add(wave)
    db.session.flush()
    ids = [c.id for c in people]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        db.session.execute(
            sa.update(Invitation).where(Invitation.candidate_id.in_(chunk), Invitation.used_at.is_(None))
            .values(superseded=True)
        )
        db.session.execute(sa.update(Candidate).where(Candidate.id.in_(chunk)).values(**changes)
                           .execution_options(synchronize_session=False))
    for candidate in people:  # what the statement wrote, without a search of the session per chunk
        for key, value in changes.items():
            set_committed_value(candidate, key, value)
    rows = [{"candidate_id": candidate_id, "wave_id": wave.id} for candidate_id in ids]
    db.session.execute(sa.insert(Invitation), rows)
    invitation_of = dict(db.session.execute(
        sa.select(Invitation.candidate_id, Invitation.id).where(Invitation.wave_id == wave.id)
    ).all())
    subject = _wave_subject(kind, event)
    mail.queue_wave(wave.id, [
        {"to_email": candidate.email, "subject": subject, "template": kind.value, "event_id": event.id,
         "invitation_id": invitation_of[candidate.id]}
        for candidate in people
    ])
    audit.record_many(actor, event, "invite" if kind == WaveKind.INVITATION else "remind",
                      [f"candidate {candidate.email}" for candidate in people], f"wave {wave.id}")
    result.done.extend(people)
    result.wave = wave
    return wave


def mint_invitation_link(invitation_id: int | None) -> dict:
    """For the worker, as it sends an invitation or reminder: a fresh link whose lifetime starts now
    (only its hash is stored), and the template's context.

    Raises ``mail.Cancelled`` when the link would be of no use: a newer invitation replaced this
    one, the person answered or was revoked. A retried message gets a new link; the earlier one,
    which never arrived, stops working.
    """
    invitation = db.session.get(Invitation, invitation_id) if invitation_id is not None else None
    if invitation is None:
        raise mail.Cancelled("The invitation no longer exists.")
    candidate = invitation.candidate
    if invitation.superseded:
        raise mail.Cancelled("A newer invitation replaced this one before it was sent.")
    if invitation.used_at is not None or candidate.status != S.INVITED:
        raise mail.Cancelled(f"Not sent: {candidate.email} is {candidate.status.value} now.")
    token, token_hash = new_token()
    expires = utcnow() + timedelta(days=current_app.config["INVITE_TOKEN_DAYS"])
    invitation.token_hash = token_hash
    invitation.expires_at = expires
    candidate.invite_expires_at = expires
    return {"event": candidate.event, "candidate": candidate, "expires": expires,
            "link": f"{current_app.config['BASE_URL']}/invitation/{token}"}


def wave_progress(wave: InviteWave) -> dict[str, int]:
    """How far a wave's emails have got, counted from its messages: total, sent, waiting, failed, cancelled."""
    rows = db.session.execute(
        sa.select(OutboxMessage.status, sa.func.count())
        .join(Invitation, Invitation.id == OutboxMessage.invitation_id)
        .where(Invitation.wave_id == wave.id)
        .group_by(OutboxMessage.status)
    ).all()
    counts = {status: n for status, n in rows}
    return {
        "total": wave.size,
        "sent": counts.get(MessageStatus.SENT, 0),
        "waiting": counts.get(MessageStatus.PENDING, 0) + counts.get(MessageStatus.SENDING, 0),
        "failed": counts.get(MessageStatus.FAILED, 0),
        "cancelled": counts.get(MessageStatus.CANCELLED, 0),
    }


def latest_wave(event: Event, within: timedelta = timedelta(days=2)) -> tuple[InviteWave, dict[str, int]] | None:
    """The event's newest wave of the last ``within``, and its progress: what the invite list shows."""
    wave = db.session.scalar(sa.select(InviteWave).where(InviteWave.event_id == event.id,
                                                         InviteWave.created_at >= utcnow() - within)
                             .order_by(InviteWave.id.desc()).limit(1))
    return (wave, wave_progress(wave)) if wave is not None else None


def remind(actor: User | None, event: Event, candidates: Iterable[Candidate]) -> BulkResult:
    """Send a fresh link to invited people who have not answered; the old link stops working.

    ``actor`` is None for a scheduled reminder.
    """
    if event.status in (EventStatus.CLOSED, EventStatus.ARCHIVED):
        raise DomainError("This event is closed; it sends no more reminders.")
    eligible, result = [], BulkResult()
    for candidate in candidates:
        (eligible if policy.candidate_ready_for(candidate, "remind") else result.skipped).append(candidate)
    if not eligible:
        return result
    _send_links(actor, event, eligible, WaveKind.REMINDER, result,
                {"reminded_at": utcnow(), "invite_expires_at": None})
    return result


def revoke(actor: User, event: Event, candidates: Iterable[Candidate]) -> BulkResult:
    """Remove people at once: their links stop working, their sessions end, a freed seat is refilled.

    The event is locked first (the same order as accepting and withdrawing, so no deadlock) and
    each status is read again under the lock, so a seat taken a moment ago is still refilled.
    """
    result, freed = BulkResult(), False
    freed_sessions: list = []
    _lock_event(event)
    for candidate in candidates:
        db.session.refresh(candidate)
        if not policy.candidate_ready_for(candidate, "revoke"):
            result.skipped.append(candidate)
            continue
        freed = freed or candidate.status == S.ACCEPTED
        was = candidate.status
        candidate.status = S.REVOKED
        candidate.waitlisted_at = None
        db.session.execute(
            sa.update(Invitation).where(Invitation.candidate_id == candidate.id, Invitation.used_at.is_(None))
            .values(superseded=True)
        )
        if candidate.user is not None:
            accounts.end_all_sessions(candidate.user)
            notify_revocation(event, candidate.user)  # speakers whose materials they opened are told
            freed_sessions.extend(release_seats(event, candidate.user))
        audit.record(actor, event, "revoke", f"candidate {candidate.email}", f"{was} → revoked")
        result.done.append(candidate)
    policy.forget_memo()
    if freed:
        fill_from_waitlist(event)
    for proposal in freed_sessions:  # their seats in sessions go to the sessions' waitlists
        fill_session_waitlist(proposal)
    return result


def expire_overdue(event: Event) -> int:
    """Invitations whose link ran out unanswered become 'expired' (idempotent; run on read)."""
    expired = db.session.execute(
        sa.update(Candidate)
        .where(Candidate.event_id == event.id, Candidate.status == S.INVITED, Candidate.invite_expires_at < utcnow())
        .values(status=S.EXPIRED)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if expired:
        policy.forget_memo()
    return expired


# --- answering an invitation --------------------------------------------------------------


def open_invitation(token: str) -> Invitation:
    """The live invitation behind a token, or DomainError. Consumes nothing."""
    return open_invitation_hash(hash_token(token))


def open_invitation_hash(token_hash: str | None) -> Invitation:
    """As ``open_invitation``, for the hash of the link's token (what a browser's session keeps once the
    link has been opened). An invitation not sent yet has no hash: none is ever found by an empty one."""
    if not token_hash:
        raise DomainError(INVALID_INVITATION)
    invitation = db.session.scalar(sa.select(Invitation).where(Invitation.token_hash == token_hash))
    if (invitation is None or invitation.used_at is not None or invitation.superseded
            or invitation.candidate.status != S.INVITED):
        raise DomainError(INVALID_INVITATION)
    if invitation.expires_at is None or invitation.expires_at < utcnow():
        expire_overdue(invitation.candidate.event)
        raise DomainError("This invitation has expired. Ask the organizers to send you a new one.")
    return invitation


def _lock_event(event: Event) -> None:
    """Serialize seat changes for one event (row lock on PostgreSQL; SQLite serializes writers).

    FOR NO KEY UPDATE: seat changes wait for one another, but rows that merely reference the event (an
    audit entry of a decline or a cancelled sign-up written meanwhile) do not wait, so no deadlock.
    """
    db.session.execute(sa.select(Event.id).where(Event.id == event.id).with_for_update(key_share=True))


def accepted_count(event: Event) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Candidate)
        .where(Candidate.event_id == event.id, Candidate.status == S.ACCEPTED)
    )


def _consume(invitation: Invitation) -> None:
    used = db.session.execute(
        sa.update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.used_at.is_(None), Invitation.superseded.is_(False))
        .values(used_at=utcnow())
    ).rowcount
    if used != 1:
        raise DomainError(INVALID_INVITATION)


def accept_invitation(token: str) -> Candidate:
    """Accept: a seat if one is free, the waitlist otherwise. Returns the candidate, linked to a user."""
    return accept_invitation_hash(hash_token(token))


def accept_invitation_hash(token_hash: str | None) -> Candidate:
    """As ``accept_invitation``, for the hash of the link's token."""
    invitation = open_invitation_hash(token_hash)
    candidate, event = invitation.candidate, invitation.candidate.event
    if not policy.can_answer_invitations(event):
        raise DomainError("This event is not taking answers to invitations any more.")
    _lock_event(event)
    db.session.refresh(candidate)
    if candidate.status != S.INVITED:
        raise DomainError(INVALID_INVITATION)
    _consume(invitation)
    user = accounts.get_or_create_user(candidate.email, candidate.name)
    if user.is_disabled:
        raise DomainError("This account is disabled. Contact the organizers.")
    candidate.user_id = user.id
    candidate.responded_at = utcnow()
    if accepted_count(event) < event.capacity:
        candidate.status = S.ACCEPTED
        mail.queue(candidate.email, f"Welcome to {event.title}", "accepted", event=event, candidate=candidate)
    else:
        candidate.status = S.WAITLISTED
        candidate.waitlisted_at = utcnow()
    audit.record(user, event, "accept invitation", f"candidate {candidate.email}", f"invited → {candidate.status}")
    policy.forget_memo()
    return candidate


def decline_invitation(token: str) -> Candidate:
    return decline_invitation_hash(hash_token(token))


def decline_invitation_hash(token_hash: str | None) -> Candidate:
    """Decline the invitation behind the hash of a link's token."""
    invitation = open_invitation_hash(token_hash)
    candidate = invitation.candidate
    _consume(invitation)
    user = accounts.get_or_create_user(candidate.email, candidate.name)
    candidate.user_id = user.id
    candidate.status = S.DECLINED
    candidate.responded_at = utcnow()
    audit.record(user, candidate.event, "decline invitation", f"candidate {candidate.email}", "invited → declined")
    policy.forget_memo()
    return candidate


def withdraw(user: User, event: Event) -> Candidate:
    """A participant gives up their seat (which goes to the waitlist) or their waitlist place."""
    candidate = policy.participation(user, event)
    if candidate is None or not policy.can_withdraw(user, event):
        raise DomainError("You have no seat or waitlist place to give up.")
    _lock_event(event)
    db.session.refresh(candidate)
    if candidate.status not in (S.ACCEPTED, S.WAITLISTED):  # revoked a moment ago, say
        raise DomainError("You have no seat or waitlist place to give up.")
    was_accepted = candidate.status == S.ACCEPTED
    audit.record(user, event, "withdraw", f"candidate {candidate.email}", f"{candidate.status} → declined")
    candidate.status = S.DECLINED
    candidate.waitlisted_at = None
    candidate.responded_at = utcnow()
    policy.forget_memo()
    if was_accepted:
        fill_from_waitlist(event)
    return candidate


def fill_from_waitlist(event: Event) -> list[Candidate]:
    """Promote waitlisted people, first come first served, while seats are free; email each."""
    _lock_event(event)
    db.session.flush()
    free = event.capacity - accepted_count(event)
    if free <= 0:
        return []
    promoted = list(db.session.scalars(
        sa.select(Candidate)
        .where(Candidate.event_id == event.id, Candidate.status == S.WAITLISTED)
        .order_by(Candidate.waitlisted_at, Candidate.id)
        .limit(free)
    ))
    for candidate in promoted:
        candidate.status = S.ACCEPTED
        candidate.waitlisted_at = None
        audit.record(None, event, "promote from waitlist", f"candidate {candidate.email}")
        mail.queue(candidate.email, f"A seat opened for you at {event.title}", "promoted", event=event,
                   candidate=candidate)
    policy.forget_memo()
    return promoted


def waitlist_position(candidate: Candidate) -> int | None:
    if candidate.status != S.WAITLISTED:
        return None
    ahead = db.session.scalar(
        sa.select(sa.func.count()).select_from(Candidate).where(
            Candidate.event_id == candidate.event_id,
            Candidate.status == S.WAITLISTED,
            sa.or_(Candidate.waitlisted_at < candidate.waitlisted_at,
                   sa.and_(Candidate.waitlisted_at == candidate.waitlisted_at, Candidate.id < candidate.id)),
        )
    )
    return ahead + 1


# --- reporting ----------------------------------------------------------------------------


def status_counts(event: Event) -> dict[CandidateStatus, int]:
    rows = db.session.execute(
        sa.select(Candidate.status, sa.func.count()).where(Candidate.event_id == event.id).group_by(Candidate.status)
    )
    counts = {status: 0 for status in S}
    counts.update({status: n for status, n in rows})
    return counts


def funnel(event: Event) -> list[tuple[str, int]]:
    """The bars of the funnel chart: everyone invited, then how they answered."""
    c = status_counts(event)
    invited_total = c[S.INVITED] + c[S.ACCEPTED] + c[S.DECLINED] + c[S.EXPIRED] + c[S.WAITLISTED]
    return [
        ("Invited", invited_total),
        ("Accepted", c[S.ACCEPTED]),
        ("Declined", c[S.DECLINED]),
        ("Pending", c[S.INVITED]),
        ("Waitlisted", c[S.WAITLISTED]),
    ]


def export_csv(candidates: Iterable[Candidate], tags: dict[int, list[str]] | None = None,
               vouchers: dict[int, list[str]] | None = None) -> str:
    """The invite list as CSV, formula-safe. ``tags`` and ``vouchers`` (candidate id → values) may be
    loaded in bulk by the caller; without them each candidate's relationships are read."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "name", "affiliation", "status", "tags", "vouched_by", "invited_at", "responded_at",
                     "notes"])
    for c in candidates:
        writer.writerow([csv_safe(v) for v in (
            c.email, c.name, c.affiliation, c.status.value,
            ", ".join(tags[c.id] if tags is not None else c.tag_names),
            "; ".join(vouchers[c.id] if vouchers is not None else (v.user.email for v in c.vouches)),
            c.invited_at.isoformat(timespec="seconds") if c.invited_at else "",
            c.responded_at.isoformat(timespec="seconds") if c.responded_at else "",
            c.notes,
        )])
    return out.getvalue()
