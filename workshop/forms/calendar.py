"""Forms of the calendar feeds and the API's personal access tokens."""

from flask_wtf import FlaskForm
from wtforms import BooleanField


class FeedDetailsForm(FlaskForm):
    details = BooleanField("Put the abstracts and speakers of talks that are not public in my feed")
