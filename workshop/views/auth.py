from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, limiter
from ..forms.accounts import AccountForm, ConfirmForm, SignInForm
from ..services import accounts
from ..services.errors import DomainError
from ._helpers import form_error, safe_next

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
    if form.validate_on_submit():
        if form.password.data:
            user = accounts.check_password(form.email.data, form.password.data)
            db.session.commit()
            if user is None:
                form.password.errors.append("That email and password do not match. You can also ask for a link.")
                return render_template("auth/sign_in.html", form=form, next_url=next_url), 400
            start_session(user)
            return redirect(next_url)
        accounts.request_sign_in(form.email.data)
        db.session.commit()
        return render_template("auth/check_email.html", email=form.email.data)
    status = 400 if form.errors else 200
    return render_template("auth/sign_in.html", form=form, next_url=next_url), status


@bp.route("/auth/link/<token>", methods=["GET", "POST"])
@limiter.limit(_token_limit)
def redeem_link(token: str):
    # GET only shows a button: mail scanners that follow links do not use up the sign-in.
    form = ConfirmForm()
    try:
        if request.method == "POST" and form.validate_on_submit():
            user = accounts.redeem_login_token(token)
            db.session.commit()
            start_session(user)
            flash(f"Signed in as {user.email}.", "success")
            return redirect(url_for("main.home"))
        row = accounts.peek_login_token(token)
    except DomainError as error:
        db.session.rollback()
        return render_template("auth/link_invalid.html", message=error.message), 410
    return render_template("auth/confirm_link.html", form=form, email=row.user.email)


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
    if form.validate_on_submit():
        current_user.name = form.name.data.strip()
        try:
            if form.remove_password.data:
                accounts.set_password(current_user, None)
            elif form.password.data:
                accounts.set_password(current_user, form.password.data)
        except DomainError as error:
            db.session.rollback()
            form_error(form, error)
            return render_template("auth/account.html", form=form), 400
        db.session.commit()
        flash("Your account is saved.", "success")
        return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form), 400 if form.errors else 200


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    form = ConfirmForm()
    if not form.validate_on_submit():
        return redirect(url_for("auth.account"))
    accounts.end_all_sessions(current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out on every device.", "info")
    return redirect(url_for("auth.sign_in"))
