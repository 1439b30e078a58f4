from flask import Blueprint, render_template
from flask_login import current_user

from .. import policy
from ..extensions import db

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    events = db.session.scalars(policy.events_visible_to(current_user)).all() if current_user.is_authenticated else []
    return render_template("home.html", events=events)


@bp.get("/healthz")
def health():
    return {"status": "ok"}
