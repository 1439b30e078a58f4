from flask_wtf.file import FileField
from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Email, Length, Optional

from .accounts import strip
from .base import Form


class CandidateForm(Form):
    email = EmailField("Email", filters=[strip], validators=[DataRequired("Enter an email address."),
                                            Email("That email address is not valid."), Length(max=254)])
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    affiliation = StringField("Affiliation", validators=[Optional(), Length(max=200)])
    tags = StringField("Tags", description="Separated by commas.", validators=[Optional(), Length(max=500)])
    approved = BooleanField("Approved: ready to invite", default=True)


class CandidateEditForm(Form):
    name = StringField("Name", validators=[Optional(), Length(max=200)])
    affiliation = StringField("Affiliation", validators=[Optional(), Length(max=200)])
    tags = StringField("Tags", description="Separated by commas.", validators=[Optional(), Length(max=500)])
    notes = TextAreaField("Private notes", description="Only organizers see these.",
                          validators=[Optional(), Length(max=10000)])


class ImportUploadForm(Form):
    file = FileField("CSV file")
    text = TextAreaField("…or paste the rows", validators=[Optional(), Length(max=2_000_000)])


class ImportConfirmForm(Form):
    text = TextAreaField("Rows", validators=[DataRequired("There is nothing to import."), Length(max=2_000_000)])
    approved = BooleanField("Mark everyone approved: ready to invite")
    # Which button was pressed ("check" or "import") is read from the request: a hidden field of
    # the same name would come first in the form data and always win.


BULK_ACTIONS = [("approve", "Approve"), ("invite", "Send invitation"), ("remind", "Send reminder"),
                ("revoke", "Revoke")]


class BulkForm(Form):
    action = SelectField("Action", choices=[("", "Choose an action…"), *BULK_ACTIONS], validate_choice=False,
                         validators=[AnyOf([value for value, _ in BULK_ACTIONS], "Choose an action from the list.")])


class NominationForm(Form):
    email = EmailField("Their email", filters=[strip], validators=[DataRequired("Enter their email address."),
                                                  Email("That email address is not valid."), Length(max=254)])
    name = StringField("Their name", validators=[DataRequired("Enter their name."), Length(max=200)])
    affiliation = StringField("Affiliation", validators=[Optional(), Length(max=200)])
    note = TextAreaField("Why you vouch for them", description="Organizers read this when they decide.",
                         validators=[DataRequired("Say why you vouch for them."), Length(min=10, max=2000)])
