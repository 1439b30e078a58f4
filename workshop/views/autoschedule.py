"""The auto-scheduler for organizers: choose a scope, preview the result, apply it or discard it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from .. import policy
from ..extensions import db
from ..forms.autoschedule import ApplyForm, AutoScheduleForm
from ..services import autoschedule, schedule
from ..services.errors import DomainError
from ._helpers import form_error, load_event

bp = Blueprint("autoschedule", __name__, url_prefix="/e/<slug>/manage/schedule/auto")


def _form(event) -> AutoScheduleForm:
    form = AutoScheduleForm()
    form.scope.choices = [("unplaced", "Place the unplaced sessions; keep everything placed where it is"),
                          ("all", "Reschedule every session that is not pinned")]
    form.scope.choices += [(f"block:{name}", f"Fill the free cells of “{name}” (unconference: the next block)")
                           for name in autoschedule.blocks(event)]
    return form


@bp.route("/", methods=["GET", "POST"])
def form(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_manage_schedule)
    form = _form(event)
    if form.validate_on_submit():
        try:
            preview = autoschedule.preview(current_user, event, form.scope.data, form.time_limit.data,
                                           form.seed.data)
        except DomainError as error:
            form_error(form, error)
        else:
            apply_form = ApplyForm(formdata=None, payload=preview.payload())
            return render_template("autoschedule/preview.html", event=event, preview=preview, apply_form=apply_form,
                                   result=preview.result, local=schedule.local)
    return render_template("autoschedule/form.html", event=event, form=form), 400 if form.errors else 200


@bp.post("/apply")
def apply(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_manage_schedule)
    form = ApplyForm()
    if not form.validate_on_submit():
        abort(400, "The preview is empty or expired; run the scheduler again.")
    try:
        count = autoschedule.apply(current_user, event, form.payload.data)
    except DomainError as error:
        db.session.rollback()
        abort(409, error.message)
    db.session.commit()
    flash(f"Applied: {count} sessions placed or moved. Check the conflicts, then publish.", "success")
    return redirect(url_for("schedule.editor", slug=slug))
