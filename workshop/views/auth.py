from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import limiter
from ..forms.accounts import AccountForm, ConfirmForm, SignInForm
from ..services import accounts
from ..services.errors import DomainError
from ._helpers import safe_next
from .runner import done, page, run

bp = Blueprint("auth", __name__)


def _signin_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


def _token_limit() -> str:
    return current_app.config["TOKEN_RATE_LIMIT"]


def start_session(user) -> None:
    """Sign in on a fresh session, so nothing from before sign-in carries over."""
    session.clear()
    login_user(user)
    session.permanent = True


@bp.route("/auth/sign-in", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"])
def sign_in():
    form = SignInForm()
    next_url = safe_next(request.values.get("next"), url_for("main.home"))
    if form.password.data:
        answer = run(lambda: _password_user(form), lambda user: _signed_in(user, next_url), form=form)
    else:
        answer = run(lambda: accounts.request_sign_in(form.email.data),
                     lambda _: render_template("auth/check_email.html", email=form.email.data), form=form)
    return answer or page("auth/sign_in.html", form, next_url=next_url)


def _password_user(form):
    user = accounts.check_password(form.email.data, form.password.data)
    if user is None:
        raise DomainError("That email and password do not match. You can also ask for a link.", field="password")
    return user


def _signed_in(user, next_url: str, message: str | None = None):
    start_session(user)
    if message:
        flash(message, "success")
    return redirect(next_url)


@bp.route("/auth/link/<token>", methods=["GET", "POST"])
@limiter.limit(_token_limit)
def redeem_link(token: str):
    # GET only shows a button: mail scanners that follow links do not use up the sign-in.
    def invalid(error, _status):
        return render_template("auth/link_invalid.html", message=error.message), 410

    if request.method == "POST":
        return run(lambda: accounts.redeem_login_token(token),
                   lambda user: _signed_in(user, url_for("main.home"), f"Signed in as {user.email}."), refused=invalid)
    try:
        row = accounts.peek_login_token(token)
    except DomainError as error:
        return invalid(error, 410)
    return render_template("auth/confirm_link.html", form=ConfirmForm(), email=row.user.email)


@bp.post("/auth/sign-out")
def sign_out():
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("errors/error.html", error=None, message="The form expired; try again."), 400
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(safe_next(request.form.get("next"), url_for("main.home")))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = AccountForm(obj=current_user)

    def save():
        current_user.name = form.name.data.strip()
        if form.remove_password.data:
            accounts.set_password(current_user, None)
        elif form.password.data:
            accounts.set_password(current_user, form.password.data)

    answer = run(save, lambda _: done("Your account is saved.", url_for("auth.account")), form=form)
    return answer or page("auth/account.html", form)


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    def signed_out(_):
        logout_user()
        session.clear()
        return done("You are signed out on every device.", url_for("auth.sign_in"), "info")

    return run(lambda: accounts.end_all_sessions(current_user), signed_out,
               refused=lambda error, status: redirect(url_for("auth.account")))
