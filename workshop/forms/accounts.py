from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from .base import Form


def strip(value):
    """Pasted addresses often carry spaces."""
    return value.strip() if isinstance(value, str) else value


class SignInForm(Form):
    email = EmailField("Email", filters=[strip], validators=[DataRequired("Enter your email address."),
                                                              Email("That email address is not valid."),
                                                              Length(max=254)])
    password = PasswordField("Password (only if you set one)", validators=[Optional(), Length(max=200)])


class ConfirmForm(Form):
    """A bare form: a button with a CSRF token."""


class AccountForm(Form):
    name = StringField("Your name", validators=[DataRequired("Enter your name."), Length(max=200)])
    password = PasswordField("New password (optional)", validators=[Optional(), Length(min=10, max=200,
                             message="Use 10 to 200 characters.")])
    confirm = PasswordField("Repeat the new password", validators=[EqualTo("password", "The passwords differ.")])
    remove_password = BooleanField("Remove my password and sign in by email link only")


class UserForm(Form):
    email = EmailField("Email", filters=[strip], validators=[DataRequired("Enter an email address."),
                                            Email("That email address is not valid."), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    admin = BooleanField("Administrator")
