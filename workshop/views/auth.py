from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import limiter
from ..forms.accounts import AccountForm, ConfirmForm, SignInForm
from ..services import accounts
from ..services.errors import DomainError
from ..services.tokens import hash_token
from ._helpers import no_referrer, safe_next
from .runner import done, page, run

bp = Blueprint("auth", __name__)

# What a browser's session keeps of a link it opened: the hash of its token, never the token.
SIGN_IN_LINK = "sign_in_link"
INVITATION_LINK = "invitation_link"


def _signin_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


def _token_limit() -> str:
    return current_app.config["TOKEN_RATE_LIMIT"]


def signing_in(find_user):
    """The act, for ``run``, of a sign-in: find the person (``find_user`` raises DomainError when it may
    not) and record their new session, in one transaction. Answers (user, session key)."""
    def act():
        return replace_session(find_user())
    return act


def replace_session(user) -> tuple:
    """End the session this browser had (if any: a copy of its cookie signs nobody in) and open one for
    ``user``. Answers (user, session key) for ``start_session``."""
    accounts.close_session(session.get(accounts.SESSION_KEY))
    return user, accounts.open_session(user)


def start_session(user, key: str) -> None:
    """Sign in on a fresh session, so nothing from before sign-in carries over. ``key`` names the
    session's row (``accounts.open_session``): signing out deletes it."""
    session.clear()
    login_user(user)
    session[accounts.SESSION_KEY] = key
    session.permanent = True


@bp.route("/auth/sign-in", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"])
def sign_in():
    form = SignInForm()
    next_url = safe_next(request.values.get("next"), url_for("main.home"))
    if form.password.data:
        answer = run(signing_in(lambda: _password_user(form)), lambda opened: _signed_in(opened, next_url),
                     form=form)
    else:
        answer = run(lambda: accounts.request_sign_in(form.email.data),
                     lambda _: render_template("auth/check_email.html", email=form.email.data), form=form)
    return answer or page("auth/sign_in.html", form, next_url=next_url)


def _password_user(form):
    user = accounts.check_password(form.email.data, form.password.data)
    if user is None:
        raise DomainError("That email and password do not match. You can also ask for a link.", field="password")
    return user


def _signed_in(opened, next_url: str, message: str | None = None):
    start_session(*opened)
    if message:
        flash(message, "success")
    return redirect(next_url)


@bp.get("/auth/link/<token>")
@limiter.limit(_token_limit)
@no_referrer
def open_link(token: str):
    """The emailed sign-in link. Its token leaves the URL at once: the session keeps the token's hash and
    the browser goes on to a page without it, so the token reaches no history entry, no Referer and no
    later log line. Nothing is looked up or used up here."""
    session[SIGN_IN_LINK] = hash_token(token)
    return redirect(url_for("auth.redeem_link"))


@bp.route("/auth/link", methods=["GET", "POST"])
@limiter.limit(_token_limit)
@no_referrer
def redeem_link():
    """The link opened in this browser: GET only shows a button (mail scanners that follow links do not
    use up the sign-in); POST signs in."""
    link = session.get(SIGN_IN_LINK)

    def invalid(error, _status):
        return render_template("auth/link_invalid.html", message=error.message), 410

    if request.method == "POST":
        return run(signing_in(lambda: accounts.redeem_login_hash(link)),
                   lambda opened: _signed_in(opened, url_for("main.home"), f"Signed in as {opened[0].email}."),
                   refused=invalid)
    try:
        row = accounts.peek_login_hash(link)
    except DomainError as error:
        return invalid(error, 410)
    return render_template("auth/confirm_link.html", form=ConfirmForm(), email=row.user.email)


@bp.post("/auth/sign-out")
def sign_out():
    """Sign this browser out, on the server too: its session row goes, so a copy of its cookie replayed
    anywhere afterwards is signed out as well."""
    def signed_out(_):
        # An invitation opened in this browser is for whoever answers it: it outlasts signing out, so that
        # "this invitation is for someone else" can offer to sign out and continue.
        invitation = session.get(INVITATION_LINK)
        logout_user()
        session.clear()
        if invitation:
            session[INVITATION_LINK] = invitation
        flash("You are signed out.", "info")
        return redirect(safe_next(request.form.get("next"), url_for("main.home")))

    return run(lambda: accounts.close_session(session.get(accounts.SESSION_KEY)), signed_out)


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
