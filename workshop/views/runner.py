"""The one path every view that writes takes: load → check → act → commit → answer.

A view loads what its URL names and asks the policy first (``load_event``, ``load_proposal``: 404 to
whoever may not know the object exists, 403 for a forbidden action). Then it hands the write to
``run``, which checks the submitted form, calls the service, and commits once::

    form = NominationForm()
    answer = run(lambda: invites.nominate(current_user, event, form.email.data, ...),
                 lambda _: done("Thank you.", url_for("events.landing", slug=slug)), form=form)
    return answer or page("events/nominate.html", form, event=event)

A refusal (an invalid submission, the service's ``DomainError``, or a unique key another request took a
moment before) rolls back everything the request wrote, and goes:

- with ``form`` (a form page): beside the field the error names, or above the form; ``run`` returns
  None and the view shows the form again, which ``page`` answers with 400;
- with ``refused``: to ``refused(error, status)``, a page of the view's own (the editor with the reason,
  say), after the form got the error if there is one; status is 400 for an invalid submission and 409
  for a refusal;
- otherwise (a one-click action): to the error page, with the reason, as 400 or 409.

Pages that write as they are read (a download logged) use ``write_on_read``. Nothing else in a view
rolls back or commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, flash, redirect, render_template
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError

from .. import policy
from ..extensions import db
from ..forms.accounts import ConfirmForm
from ..services.errors import DomainError

T = TypeVar("T")
Refused = Callable[[DomainError, int], ResponseReturnValue]

EXPIRED = "The form expired; try again."
# Two requests wrote the same thing at once (a unique key both took): the other one won.
CONCURRENT = "Another request changed this a moment ago; reload the page and try again."


def run(act: Callable[[], T], then: Callable[[T], ResponseReturnValue], *, form: FlaskForm | None = None,
        button: FlaskForm | None = None, refused: Refused | None = None) -> ResponseReturnValue | None:
    """Check the submission, call ``act`` (the service), commit, and answer ``then(result)``.

    ``form``: a form page. Until it is submitted and valid nothing runs and ``run`` returns None.
    ``button``: the form of a one-click action; a bare ``ConfirmForm`` (a CSRF token) when omitted.
    Either way a refusal is routed as the module's docstring says.
    """
    if form is not None and button is not None:
        raise TypeError("a view posts either a form page or a button, not both")
    posted = form if form is not None else button if button is not None else ConfirmForm()
    if not posted.validate_on_submit():
        if form is not None and (refused is None or not form.is_submitted()):
            return None  # not sent yet, or its fields say what is wrong
        return _refuse(DomainError(form_message(posted)), 400, None, refused)
    try:
        result = act()
        db.session.commit()
    except DomainError as error:
        return _refuse(error, 409, form, refused)
    except IntegrityError:
        return _refuse(DomainError(CONCURRENT), 409, form, refused)
    return then(result)


def _refuse(error: DomainError, status: int, form: FlaskForm | None, refused: Refused | None):
    db.session.rollback()
    policy.forget_memo()  # decisions cached before the rollback may rest on what it undid
    if form is not None:
        form_error(form, error)
    if refused is not None:
        return refused(error, status)
    if form is not None:
        return None
    abort(status, error.message)


def form_error(form: FlaskForm, error: DomainError) -> None:
    """Show a refusal beside the field it names, or above the form (and as a flash) when it names none.

    Either way the form now has errors, so ``page`` answers with a 4xx.
    """
    if error.field and error.field in form:
        form[error.field].errors = [*form[error.field].errors, error.message]
    else:
        form.form_errors.append(error.message)
        flash(error.message, "error")


def form_message(form: FlaskForm) -> str:
    """What is wrong with a submission, in one line, for pages that show no form."""
    messages = [message for errors in form.errors.values() for message in errors]
    return " ".join(messages) or EXPIRED


def write_on_read(act: Callable[[], T]) -> T:
    """A write a page makes as it is read: a download logged, invitations whose links ran out marked
    expired. There is no form and no refusal to route. What ``act`` wrote is committed at once when it
    returns something truthy (what it wrote, or how many rows), and kept when it raises a DomainError
    (an expired link stays expired); a falsy answer wrote nothing, and nothing is committed."""
    try:
        result = act()
    except DomainError:
        db.session.commit()
        raise
    if result:
        db.session.commit()
    return result


def done(message: str, url: str, category: str = "success") -> ResponseReturnValue:
    """The usual answer after a write: say what happened, and go where the person continues."""
    flash(message, category)
    return redirect(url)


def page(template: str, form: FlaskForm | None = None, status: int | None = None, **context: Any):
    """Render a page; with a form that has errors (a refused or invalid submission) the answer is 400."""
    if status is None:
        status = 400 if form is not None and form.errors else 200
    return render_template(template, form=form, **context), status
