"""The read-only JSON API under /api/v1, and the account page's personal access tokens.

The API knows its caller only by ``Authorization: Bearer <token>``: a signed-in browser's cookie opens
nothing here, so a page of another site cannot make a visitor's browser read it. Every route is a GET
(there is nothing to forge, so no CSRF token is asked), answers 401 without a valid token and 404 for
whatever its caller may not see, and is rate-limited per token. Every answer is built from a pydantic model
of ``workshop.api.schemas``, which the OpenAPI document at /api/v1/openapi.json publishes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, g, jsonify, request, url_for
from flask_login import current_user, login_required
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

from .. import policy
from ..api import openapi, schemas
from ..dates import local
from ..extensions import db, limiter
from ..forms.calendar import ApiTokenForm
from ..models import Event, Proposal, ProposalSpeaker, SignUp, User, utcnow
from ..services import api_tokens, exports, signups
from ._helpers import event_proposal
from .runner import done, page, run, write_on_read

bp = Blueprint("api", __name__, url_prefix="/api/v1")
tokens_bp = Blueprint("api_tokens", __name__)

BEARER = "bearer "


# --- who is asking -------------------------------------------------------------------------------


def _credential() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[len(BEARER):].strip() if header[:len(BEARER)].lower() == BEARER else None


def _rate_key() -> str:
    """Per token (as presented), so that one program's burst does not stop another's; per address without one."""
    credential = _credential()
    if credential:
        return "api-token:" + hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return "api-address:" + (request.remote_addr or "")


def _rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


limiter.limit(_rate_limit, key_func=_rate_key)(bp)


@bp.before_request
def authenticate():
    """Every route but the document needs a valid token; its owner is the caller for the rest of the request."""
    if request.endpoint == "api.openapi_document":
        return None
    token = api_tokens.authenticate(_credential())
    if token is None:
        abort(401, "Send a valid personal access token: Authorization: Bearer <token>.")
    g.api_token = token
    write_on_read(lambda: api_tokens.touch(token))
    return None


def caller() -> User:
    return g.api_token.user


def json_error(error: HTTPException):
    """The API's refusals are JSON too (schemas.Error), whatever raised them: a route, routing, the limiter."""
    message = error.description if isinstance(error.description, str) else error.name
    if error.code == 404:
        message = "Nothing you may see is there."
    response = error.get_response()
    response.set_data(schemas.Error(error=message).model_dump_json())
    response.content_type = "application/json"
    if error.code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="Conclave API"'
    return response


def _answer(model: BaseModel):
    response = current_app.response_class(model.model_dump_json(by_alias=True), mimetype="application/json")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _event(slug: str, may=policy.can_view_event) -> Event:
    """The event, if the caller may know it (``may``), else 404 as for an event nobody has."""
    event = db.session.scalar(sa.select(Event).where(Event.slug == slug)) if len(slug) <= 60 else None
    if event is None or not may(caller(), event):
        abort(404)
    return event


def _base() -> str:
    return current_app.config["BASE_URL"]


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(microsecond=0, tzinfo=UTC) if moment is not None else None


# --- the document ----------------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI document: for anyone (it holds no data)."""
    return jsonify(openapi.document())


# --- the routes ------------------------------------------------------------------------------------


@bp.get("/me")
def me():
    user = caller()
    return _answer(schemas.Me(email=user.email, name=user.display_name))


def _summary(event: Event, content_open: bool) -> schemas.EventSummary:
    return schemas.EventSummary(slug=event.slug, title=event.title, kind=event.kind.value, status=event.status.value,
                                starts_on=event.starts_on, ends_on=event.ends_on, timezone=event.timezone,
                                venue=event.venue, content_open=content_open, url=f"{_base()}/e/{event.slug}/")


@bp.get("/events")
def events():
    """The events the caller knows (policy.events_visible_to), newest first."""
    user = caller()
    found = list(db.session.scalars(policy.events_visible_to(user)))
    open_ = policy.content_open_among(user, found)
    return _answer(schemas.EventList(events=[_summary(e, e.id in open_) for e in found]))


@bp.get("/events/<slug>")
def event(slug: str):
    found = _event(slug)
    return _answer(_summary(found, policy.can_view_event_content(caller(), found)))


def _talks(event: Event, proposals: list[Proposal]) -> list[schemas.Talk]:
    """The talks as the caller may see them, in a fixed number of queries."""
    user, now = caller(), utcnow()
    ids = [p.id for p in proposals]
    names: dict[int, list[str]] = {}
    for proposal_id, speaker in db.session.execute(
            sa.select(ProposalSpeaker.proposal_id, User).join(User, ProposalSpeaker.user_id == User.id)
            .where(ProposalSpeaker.proposal_id.in_(ids), ProposalSpeaker.confirmed.is_(True))
            .order_by(ProposalSpeaker.id)):
        names.setdefault(proposal_id, []).append(speaker.display_name)
    reviewed = policy.reviewed_among(user, event, ids)
    return [schemas.Talk(id=p.public_id, title=p.title, abstract=p.abstract, kind=p.kind.value,
                         tier=p.effective_tier(now).value, status=p.status.value if p.id in reviewed else None,
                         duration_minutes=p.duration_minutes, speakers=names.get(p.id, []),
                         chatham_house=p.chatham_house, no_recording=p.no_recording,
                         url=f"{_base()}/e/{event.slug}/proposals/{p.public_id}") for p in proposals]


@bp.get("/events/<slug>/talks")
def talks(slug: str):
    """Every talk of the event the caller may see (policy.proposals_visible_to), by title."""
    found = _event(slug, policy.can_view_event_content)
    proposals = list(db.session.scalars(policy.proposals_visible_to(caller(), found)
                                        .order_by(Proposal.title, Proposal.id)))
    return _answer(schemas.TalkList(talks=_talks(found, proposals)))


@bp.get("/events/<slug>/talks/<talk_id>")
def talk(slug: str, talk_id: str):
    found = _event(slug)
    proposal = event_proposal(found, talk_id)
    if proposal is None or not policy.can_view_proposal(caller(), proposal):
        abort(404)
    return _answer(_talks(found, [proposal])[0])


@bp.get("/events/<slug>/schedule")
def schedule(slug: str):
    """The latest release as the caller may see it, in the schedule export's schema. The caller made the token
    for a program of their own, so it carries the abstracts of every talk they may see."""
    found = _event(slug, policy.can_subscribe_calendar)
    return _answer(exports.personal_schedule(caller(), found, details=True))


@bp.get("/events/<slug>/signups")
def signup_list(slug: str):
    """The caller's seats and waitlist places: released sessions in time order, then any the latest release no
    longer holds."""
    user = caller()
    found = _event(slug, policy.can_view_schedule)
    agenda = signups.agenda(user, found)
    statuses = dict(db.session.execute(sa.select(SignUp.proposal_id, SignUp.status).where(
        SignUp.user_id == user.id, SignUp.proposal_id.in_([p.id for p in agenda.elsewhere]))).all())
    items = [schemas.SignUpItem(
        talk_id=s.proposal.public_id, title=s.proposal.title, status=s.signed_up.value,
        waitlist_position=agenda.positions.get(s.proposal.id), on_schedule=True,
        starts_at=local(found, s.starts_at), ends_at=local(found, s.ends_at), room=s.room.name,
        attended=s.proposal.id in agenda.attended) for s in agenda.sessions]
    items += [schemas.SignUpItem(
        talk_id=p.public_id, title=p.title, status=statuses[p.id].value, waitlist_position=None, on_schedule=False,
        starts_at=None, ends_at=None, room=None, attended=p.id in agenda.attended)
        for p in agenda.elsewhere if p.id in statuses]
    return _answer(schemas.SignUpList(signups=items))


# --- the account page's tokens ----------------------------------------------------------------------


@tokens_bp.app_context_processor
def token_section():
    """The account page's token block reads the person's tokens through this (the account view is not ours)."""
    return {"api_tokens_of": api_tokens.tokens_of, "api_token_form": ApiTokenForm}


@tokens_bp.post("/account/api-tokens")
@login_required
def create_token():
    """Make a token; the answer is the one page that ever shows it."""
    form = ApiTokenForm()

    def shown(made):
        token, raw = made
        return page("api/token_created.html", token=token, raw=raw,
                    docs_url=url_for("api.openapi_document", _external=False), base_url=_base())

    answer = run(lambda: api_tokens.create_token(current_user, form.name.data), shown, form=form)
    return answer or page("api/new_token.html", form)


@tokens_bp.post("/account/api-tokens/<token_id>/revoke")
@login_required
def revoke_token(token_id: str):
    """Revoke one of one's own tokens (anyone else's is no token of theirs: 404)."""
    if not any(t.public_id == token_id for t in api_tokens.tokens_of(current_user)):
        abort(404)
    return run(lambda: api_tokens.revoke_token(current_user, token_id),
               lambda token: done(f"The token “{token.name}” is revoked: programs that used it are refused from now "
                                  "on.", url_for("auth.account") + "#api-tokens"))
