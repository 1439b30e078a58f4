from flask import Blueprint, render_template
from flask_login import current_user

from .. import policy
from ..extensions import db
from ..models import Event

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return render_template("home.html", events=[], managed=set())
    events = db.session.scalars(policy.events_visible_to(current_user)).all()
    managed = set(db.session.scalars(policy.managed_events(current_user).with_only_columns(Event.id)))
    return render_template("home.html", events=events, managed=managed)


@bp.get("/healthz")
def health():
    return {"status": "ok"}
