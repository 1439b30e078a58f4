from zoneinfo import available_timezones

from wtforms import BooleanField, DateField, EmailField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional, Regexp

from ..models import EventKind, EventStatus
from .accounts import strip
from .base import Form

TIMEZONES = sorted(available_timezones())


class EventForm(Form):
    title = StringField("Title", validators=[DataRequired("Give the event a title."), Length(max=200)])
    slug = StringField("Address", description="Used in links: /e/<address>. Lower-case letters, digits, hyphens.",
                       validators=[DataRequired("Choose an address."), Length(max=60),
                                   Regexp(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
                                          message="Use lower-case letters, digits and hyphens.")])
    kind = SelectField("Kind", choices=[(k.value, k.value.capitalize()) for k in EventKind])
    description = TextAreaField("Description", description="Markdown. Shown to attendees who signed the agreement.",
                                validators=[Optional(), Length(max=20000)])
    venue = StringField("Venue", validators=[Optional(), Length(max=200)])
    timezone = SelectField("Time zone", choices=[(tz, tz) for tz in TIMEZONES], default="UTC")
    starts_on = DateField("Starts on", validators=[InputRequired("Enter the first day.")])
    ends_on = DateField("Ends on", validators=[InputRequired("Enter the last day.")])
    capacity = IntegerField("Seats", validators=[InputRequired("Enter the number of seats."),
                                                 NumberRange(1, 100000, "Between 1 and 100,000 seats.")])
    public_page = BooleanField("Publish a public page (title, dates and public sessions only)")


class NewEventForm(EventForm):
    organizers = TextAreaField("Organizers", description="Email addresses, one per line or separated by commas.",
                               validators=[DataRequired("Name at least one organizer."), Length(max=5000)])


class EditEventForm(EventForm):
    status = SelectField("Status", choices=[(s.value, s.value.capitalize()) for s in EventStatus])
    confirm_capacity = BooleanField("Lower it anyway")


class CloneEventForm(Form):
    title = StringField("Title of the new event", validators=[DataRequired("Give the new event a title."),
                                                              Length(max=200)])
    slug = StringField("Address", description="Used in links: /e/<address>. Lower-case letters, digits, hyphens.",
                       validators=[DataRequired("Choose an address."), Length(max=60),
                                   Regexp(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
                                          message="Use lower-case letters, digits and hyphens.")])
    starts_on = DateField("Starts on", description="The slot grid moves to the new dates at the same local times.",
                          validators=[InputRequired("Enter the first day.")])
    with_invites = BooleanField("Copy the invite list, everyone as “proposed” (not the revoked)")


class OrganizerForm(Form):
    email = EmailField("Email", filters=[strip], validators=[DataRequired("Enter an email address."),
                                            Email("That email address is not valid."), Length(max=254)])


class AgreementForm(Form):
    text = TextAreaField("Agreement text", validators=[DataRequired("The agreement cannot be empty."),
                                                       Length(max=20000)])


class SignAgreementForm(Form):
    typed_name = StringField("Type your full name to sign", validators=[DataRequired("Type your full name."),
                                                                         Length(min=2, max=200)])
    agree = BooleanField("I accept this agreement", validators=[DataRequired("Tick the box to accept.")])
