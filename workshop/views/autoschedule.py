"""The auto-scheduler for organizers: choose a scope, preview the result, apply it or discard it."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for
from flask_login import current_user

from .. import policy
from ..forms.autoschedule import ApplyForm, AutoScheduleForm
from ..services import autoschedule
from ._helpers import load_event
from .runner import done, page, run

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
    # A preview writes nothing; it goes through the runner for its refusals all the same.
    answer = run(lambda: autoschedule.preview(current_user, event, form.scope.data, form.time_limit.data,
                                              form.seed.data),
                 lambda preview: render_template("autoschedule/preview.html", event=event, preview=preview,
                                                 result=preview.result,
                                                 apply_form=ApplyForm(formdata=None, payload=preview.payload())),
                 form=form)
    return answer or page("autoschedule/form.html", form, event=event)


@bp.post("/apply")
def apply(slug: str):
    event = load_event(slug, policy.can_view_event, policy.can_manage_schedule)
    form = ApplyForm()
    return run(lambda: autoschedule.apply(current_user, event, form.payload.data),
               lambda count: done(f"Applied: {count} sessions placed or moved. Check the conflicts, then publish.",
                                  url_for("schedule.editor", slug=slug)), button=form)
