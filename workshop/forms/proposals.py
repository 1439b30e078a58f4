from wtforms import BooleanField, DateTimeLocalField, EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from ..models import ProposalKind, Tier
from .accounts import strip
from .base import Form

TIER_CHOICES = [
    (Tier.PUBLIC.value, "Public: anyone, on the public page"),
    (Tier.ATTENDEES.value, "Attendees: everyone who signed the agreement"),
    (Tier.SESSION.value, "Session: title for attendees, materials only for those who attended"),
    (Tier.RESTRICTED.value, "Restricted: only the speakers, organizers and people you name"),
]


class ProposalForm(Form):
    title = StringField("Title", validators=[DataRequired("Give the talk a title."), Length(min=3, max=200)])
    abstract = TextAreaField("Abstract", description="Markdown.", validators=[Optional(), Length(max=20000)])
    kind = SelectField("Kind", choices=[(k.value, k.value.capitalize()) for k in ProposalKind])
    duration_minutes = IntegerField("Duration (minutes)", default=30, validators=[
        InputRequired("Say how long it lasts."), NumberRange(5, 240, "From 5 to 240 minutes.")])
    tier = SelectField("Who may see it", choices=TIER_CHOICES, default=Tier.ATTENDEES.value)
    cospeakers = TextAreaField("Co-speakers", description="Email addresses of attendees; each is asked to confirm.",
                               validators=[Optional(), Length(max=2000)])
    chatham_house = BooleanField("Chatham House rule: use what is said, never who said it")
    no_recording = BooleanField("No recording, no photos of slides")
    extra_terms = TextAreaField("Extra terms", description="Shown and accepted before anyone opens the materials.",
                                validators=[Optional(), Length(max=5000)])


class TierForm(Form):
    tier = SelectField("Tier now", choices=TIER_CHOICES)
    release_tier = SelectField("Later, release it to", choices=[("", "No scheduled release"), *TIER_CHOICES],
                               validators=[Optional()])
    release_at = DateTimeLocalField("On (event's time zone)", format="%Y-%m-%dT%H:%M", validators=[Optional()])


class AccessForm(Form):
    named = TextAreaField("Named people", description="For a restricted talk: attendees' email addresses.",
                          validators=[Optional(), Length(max=10000)])
    excluded = TextAreaField("Never for", description="Email addresses or whole domains (lab.org covers "
                             "cs.lab.org too). An exclusion beats every tier.",
                             validators=[Optional(), Length(max=10000)])


class DecisionForm(Form):
    decision = SelectField("Decision", choices=[("accept", "Accept"), ("reject", "Reject")])
    note = TextAreaField("Note to the speakers", validators=[Optional(), Length(max=5000)])


class AttendanceForm(Form):
    email = EmailField("Attendee's email", filters=[strip], validators=[
        DataRequired("Enter an email address."), Email("That email address is not valid."), Length(max=254)])


class TermsForm(Form):
    agree = BooleanField("I accept these terms", validators=[DataRequired("Tick the box to accept.")])
