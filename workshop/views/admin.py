"""The instance's administration: events and users."""

import re

import sqlalchemy as sa
from flask import Blueprint, abort, flash, render_template, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import policy
from ..extensions import db
from ..forms.accounts import ConfirmForm, UserForm
from ..forms.events import NewEventForm
from ..models import Event, EventKind, User
from ..services import accounts, events
from ._helpers import text_arg
from .runner import done, page, run

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def only_admins():
    if not policy.can_administer(current_user):
        abort(404)


@bp.get("/")
def index():
    all_events = db.session.scalars(
        policy.events_visible_to(current_user).options(selectinload(Event.organizers))
    ).all()
    return render_template("admin/index.html", events=all_events)


def event_data(form, status=None) -> events.EventData:
    return events.EventData(
        title=form.title.data, slug=form.slug.data, description=form.description.data or "",
        kind=EventKind(form.kind.data), venue=form.venue.data or "", timezone=form.timezone.data,
        starts_on=form.starts_on.data, ends_on=form.ends_on.data, capacity=form.capacity.data,
        public_page=form.public_page.data, status=status,
    )


@bp.route("/events/new", methods=["GET", "POST"])
def new_event():
    if not policy.can_create_event(current_user):
        abort(403)
    form = NewEventForm()
    emails = [e for e in re.split(r"[\s,;]+", form.organizers.data or "") if e]
    answer = run(lambda: events.create_event(current_user, event_data(form), emails),
                 lambda event: done(f"“{event.title}” is created, in draft. Organizers have been emailed.",
                                    url_for("manage.dashboard", slug=event.slug)), form=form)
    return answer or page("admin/new_event.html", form)


@bp.route("/users", methods=["GET", "POST"])
def users():
    form = UserForm()
    answer = run(lambda: accounts.create_user(form.email.data, form.name.data or "", admin=form.admin.data),
                 lambda user: done(f"{user.email} can now sign in by email link.", url_for("admin.users")), form=form)
    return answer or _users_page(form)


def _users_page(form, status: int | None = None):
    query = text_arg("q", 254)
    statement = sa.select(User).order_by(User.email).limit(500)
    if query:
        statement = statement.where(User.email.contains(query.lower(), autoescape=True))
    return page("admin/users.html", form, status, users=db.session.scalars(statement).all(), query=query,
                action_form=ConfirmForm())


@bp.post("/users/<id:user_id>/<any('disable', 'enable', 'grant-admin', 'revoke-admin'):action>")
def user_action(user_id: int, action: str):
    user = db.session.get(User, user_id) or abort(404)

    def act():
        if action in ("disable", "enable"):
            accounts.set_disabled(current_user, user, action == "disable")
        else:
            accounts.set_admin(current_user, user, action == "grant-admin")

    def refused(error, status):
        flash(error.message, "error")
        return _users_page(UserForm(formdata=None), status)

    return run(act, lambda _: done(f"{user.email}: done ({action.replace('-', ' ')}).", url_for("admin.users")),
               refused=refused)
