"""The auto-scheduler for organizers: choose a scope, watch the run in the worker (a page that updates
itself from a small JSON answer, with a cancel button), then preview the result and apply it, or let it be.

Every route asks ``policy.can_manage_schedule``: 404 to whoever may not know the event, 403 to its
participants; a run of another event is a run that does not exist (404).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from .. import policy
from ..forms.accounts import ConfirmForm
from ..forms.autoschedule import ApplyForm, AutoScheduleForm
from ..models import Event, Job
from ..services import autoschedule
from ._helpers import load_event
from .runner import done, page, run

bp = Blueprint("autoschedule", __name__, url_prefix="/e/<slug>/manage/schedule/auto")

def _managed(slug: str) -> Event:
    return load_event(slug, policy.can_view_event, policy.can_manage_schedule)


def _run_of(event: Event, job_id: str) -> Job:
    return autoschedule.load_run(event, job_id) or abort(404)


def _form(event) -> AutoScheduleForm:
    form = AutoScheduleForm()
    form.scope.choices = [(scope, autoschedule.describe(scope)) for scope in ("unplaced", "all")]
    form.scope.choices += [(f"block:{name}", f"Fill the free cells of “{name}” (unconference: the next block)")
                           for name in autoschedule.blocks(event)]
    return form


@bp.route("/", methods=["GET", "POST"])
def form(slug: str):
    """Choose what to schedule; starting a run hands it to the worker and opens its page. Organizers and
    admins; 400 for a bad scope or time limit, or an event without rooms or slots."""
    event = _managed(slug)
    form = _form(event)
    answer = run(lambda: autoschedule.start(current_user, event, form.scope.data, form.time_limit.data,
                                            form.seed.data),
                 lambda job: redirect(url_for("autoschedule.progress", slug=slug, job_id=job.public_id)), form=form)
    return answer or page("autoschedule/form.html", form, event=event, runs=autoschedule.latest_runs(event),
                          describe=autoschedule.describe)


def status_of(event: Event, job: Job) -> dict:
    """What the run's page shows, as the small JSON its script polls (see ``autoschedule.run_state``), with
    where to fetch the proposed schedule once there is one."""
    state = autoschedule.run_state(job)
    answer = state.as_json()
    if state.has_schedule:
        answer["preview_url"] = url_for("autoschedule.preview", slug=event.slug, job_id=job.public_id)
    return answer


def _run_page(event: Event, job: Job, status: int = 200):
    return render_template("autoschedule/run.html", event=event, job=job, state=autoschedule.run_state(job),
                           preview=autoschedule.preview_of(event, job), apply_form=ApplyForm(formdata=None),
                           cancel_form=ConfirmForm(formdata=None), describe=autoschedule.describe), status


@bp.get("/runs/<job_id>")
def progress(slug: str, job_id: str):
    """One run: its progress while the worker runs it, then its proposed schedule to apply. The page updates
    itself (static/autoschedule.js polls ``status``). Organizers and admins; 404 for another event's run."""
    event = _managed(slug)
    return _run_page(event, _run_of(event, job_id))


@bp.get("/runs/<job_id>/status")
def status(slug: str, job_id: str):
    """The run's state and figures as JSON, for its page to poll. Organizers and admins."""
    event = _managed(slug)
    response = jsonify(status_of(event, _run_of(event, job_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/runs/<job_id>/preview")
def preview(slug: str, job_id: str):
    """The finished run's proposed schedule, as the part of its page the script puts in place when the run
    ends. Organizers and admins; 409 while the run has no schedule (running, cancelled or failed)."""
    event = _managed(slug)
    job = _run_of(event, job_id)
    proposed = autoschedule.preview_of(event, job)
    if proposed is None:
        abort(409, "This run has no proposed schedule (yet).")
    return render_template("autoschedule/_preview.html", event=event, job=job, preview=proposed,
                           apply_form=ApplyForm(formdata=None))


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.post("/runs/<job_id>/cancel")
def cancel(slug: str, job_id: str):
    """Stop a run: at once if no worker has it yet, within a second if one has. Organizers and admins; 409
    once it has finished. Answers JSON to the page's script, a redirect to the page otherwise."""
    event = _managed(slug)
    job = _run_of(event, job_id)

    def then(_):
        if _wants_json():
            return jsonify(status_of(event, job))
        return done("The run is stopping; nothing changes.", url_for("autoschedule.progress", slug=slug,
                                                                        job_id=job_id), "info")

    def refused(error, status_code):
        if _wants_json():
            return jsonify({"error": error.message, **status_of(event, job)}), status_code
        abort(status_code, error.message)

    return run(lambda: autoschedule.cancel(current_user, event, job), then, refused=refused)


@bp.post("/runs/<job_id>/apply")
def apply(slug: str, job_id: str):
    """Save the run's schedule in the working schedule (then check it and publish). Organizers and admins.
    409, with nothing changed, when the schedule changed since the run, a session would start in a slot that
    has started since, or (without ``confirm``) people signed up for a session it moves."""
    event = _managed(slug)
    job = _run_of(event, job_id)
    form = ApplyForm()

    def refused(error, status_code):
        flash(error.message, "error")
        return _run_page(event, job, status_code)

    return run(lambda: autoschedule.apply(current_user, event, job, form.confirm.data),
               lambda count: done(f"Applied: {count} session{'s' if count != 1 else ''} placed, moved or taken off. "
                                  "Check the conflicts, then publish.", url_for("schedule.editor", slug=slug)),
               button=form, refused=refused)
