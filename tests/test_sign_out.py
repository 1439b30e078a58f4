"""Signing out ends the session on the server: a copy of the cookie, replayed anywhere, is signed out too.

Each signed-in browser is a row (``UserSession``) named by a random key in its session cookie; a request
is signed in only while that row lives. Signing out deletes the row; signing out everywhere, disabling
an account and a session outliving the sign-in lifetime end them as well. Flask-Login's remember-me
cookie is never issued, and one forged with the app's own key still carries no session key.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_login.utils import encode_cookie

from tests.helpers import login_as, make_user
from workshop.extensions import db
from workshop.models import UserSession, utcnow
from workshop.services import accounts
from workshop.services.tokens import hash_token

PASSWORD = "correct horse battery staple"
COOKIE = "conclave_session"


@pytest.fixture
def ada(ctx):
    user = make_user("ada@example.org", "Ada Lovelace")
    accounts.set_password(user, PASSWORD)
    db.session.commit()
    return user


def signed_in(client) -> bool:
    response = client.get("/account")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def sign_in(client, email: str = "ada@example.org") -> None:
    response = client.post("/auth/sign-in", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def copy_of(app, client):
    """Another browser holding a copy of ``client``'s session cookie."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def live_sessions(user) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(UserSession).where(UserSession.user_id == user.id))


def test_a_copied_cookie_is_signed_out_with_its_owner(app, client, ada):
    sign_in(client)
    thief = copy_of(app, client)
    kept = client.get_cookie(COOKIE).value
    assert signed_in(thief), "the copy works while its owner is signed in"

    response = client.post("/auth/sign-out")
    assert response.status_code == 302
    assert not signed_in(client)
    assert not signed_in(thief)
    replay = app.test_client()
    replay.set_cookie(COOKIE, kept)
    assert not signed_in(replay), "the owner's own cookie, kept from before signing out, still signs in"
    assert live_sessions(ada) == 0


def test_signing_in_again_ends_the_browsers_earlier_session(app, client, ada):
    """A copy of the cookie taken before someone signs in again (as anyone) in the same browser dies then."""
    sign_in(client)
    thief = copy_of(app, client)
    sign_in(client)
    assert signed_in(client)
    assert not signed_in(thief)
    assert live_sessions(ada) == 1


def test_signing_out_one_browser_leaves_the_others_signed_in(app, ada):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop)
    sign_in(phone)
    assert live_sessions(ada) == 2

    laptop.post("/auth/sign-out")
    assert not signed_in(laptop)
    assert signed_in(phone)
    assert live_sessions(ada) == 1


def test_signing_out_everywhere_ends_every_copy(app, client, ada):
    sign_in(client)
    other = app.test_client()
    sign_in(other)
    thief = copy_of(app, other)

    assert client.post("/account/sign-out-everywhere").status_code == 302
    assert not any(signed_in(browser) for browser in (client, other, thief))
    assert live_sessions(ada) == 0


def test_disabling_an_account_ends_its_sessions_rows_and_all(app, client, ada):
    sign_in(client)
    thief = copy_of(app, client)
    admin = make_user("admin@example.org", admin=True)
    accounts.set_disabled(admin, ada, True)
    db.session.commit()
    assert live_sessions(ada) == 0
    accounts.set_disabled(admin, ada, False)
    db.session.commit()
    assert not signed_in(thief), "enabling the account again revived an old session"


def test_a_remember_me_cookie_does_not_revive_a_signed_out_session(app, client, ada):
    """Flask-Login would sign a remember-me cookie's user in; one made with the app's own secret key, for
    the user's current id, still finds no session of theirs."""
    sign_in(client)
    client.post("/auth/sign-out")
    with app.test_request_context():
        remembered = encode_cookie(ada.get_id())
    client.set_cookie(app.config.get("REMEMBER_COOKIE_NAME", "remember_token"), remembered)
    assert not signed_in(client)
    assert live_sessions(ada) == 0


def test_sign_in_sets_no_remember_me_cookie(client, ada):
    response = client.post("/auth/sign-in", data={"email": "ada@example.org", "password": PASSWORD})
    assert response.status_code == 302
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token=")]


def test_a_session_lasts_no_longer_than_the_sign_in_lifetime(client, ada):
    sign_in(client)
    row = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == ada.id))
    row.created_at = utcnow() - timedelta(days=15)
    db.session.commit()
    assert not signed_in(client)


def test_old_sessions_are_cleared_at_the_next_sign_in(app, client, ada):
    sign_in(client)
    db.session.execute(sa.update(UserSession).values(created_at=utcnow() - timedelta(days=30)))
    db.session.commit()
    sign_in(app.test_client())
    assert live_sessions(ada) == 1


def test_the_worker_s_sweep_deletes_expired_sessions_and_sign_in_links_and_keeps_live_ones(app, client, ada):
    from workshop.models import LoginToken
    from workshop.tasks import run_sweep

    sign_in(client)
    sign_in(app.test_client())
    old_browser = db.session.scalars(sa.select(UserSession).order_by(UserSession.id)).first()
    old_browser.created_at = utcnow() - timedelta(days=30)
    now = utcnow()
    db.session.add_all([LoginToken(user_id=ada.id, token_hash="a" * 64, expires_at=now - timedelta(days=2)),
                        LoginToken(user_id=ada.id, token_hash="b" * 64, expires_at=now - timedelta(hours=1)),
                        LoginToken(user_id=ada.id, token_hash="c" * 64, expires_at=now + timedelta(minutes=10))])
    db.session.commit()
    assert run_sweep()["sign-ins"] == 2
    assert live_sessions(ada) == 1 and signed_in(client) is False
    assert sorted(db.session.scalars(sa.select(LoginToken.token_hash))) == ["b" * 64, "c" * 64]
    assert run_sweep()["sign-ins"] == 0


def test_only_the_hash_of_the_session_key_is_stored(client, ada):
    sign_in(client)
    with client.session_transaction() as session:
        key = session[accounts.SESSION_KEY]
    hashes = db.session.scalars(sa.select(UserSession.key_hash)).all()
    assert hashes == [hash_token(key)]
    assert key not in repr(db.session.execute(sa.select(UserSession.__table__)).all())


def test_a_session_cookie_without_its_key_signs_nobody_in(client, ada):
    """A cookie as Conclave wrote them before sessions were rows (user id and version only)."""
    login_as(client, ada)
    assert signed_in(client)
    with client.session_transaction() as session:
        del session[accounts.SESSION_KEY]
    assert not signed_in(client)


def test_a_key_of_another_users_session_signs_nobody_in(client, ada):
    """The key must belong to the user the cookie names."""
    other = make_user("other@example.org")
    login_as(client, ada)
    theirs = accounts.open_session(other)
    db.session.commit()
    with client.session_transaction() as session:
        session[accounts.SESSION_KEY] = theirs
    assert not signed_in(client)
