"""Forms of the calendar feeds and the API's personal access tokens."""

from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from .base import Form


class FeedDetailsForm(Form):
    details = BooleanField("Put the abstracts and speakers of talks that are not public in my feed")


class ApiTokenForm(Form):
    # Its own id: it shares the account page with the account form's "name".
    name = StringField("Token name", id="token-name", description="What will use it, e.g. “my conference app”.",
                       validators=[DataRequired("Name the token."), Length(max=80, message="Up to 80 characters.")])
