from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..services.messages import MAX_BODY, SEGMENTS
from ..services.texts import MAX_BODY as MAX_TEXT_BODY
from .base import Form


class ComposeForm(Form):
    segment = SelectField("To", choices=list(SEGMENTS.items()))
    # The session's public id, among the accepted sessions the organizer sees (the view fills the choices).
    session = SelectField("Session", choices=[], validate_choice=False, validators=[Optional(), Length(max=24)])
    status = HiddenField(validators=[Optional(), Length(max=20)])
    tag = HiddenField(validators=[Optional(), Length(max=40)])
    q = HiddenField(validators=[Optional(), Length(max=200)])
    subject = StringField("Subject", validators=[DataRequired("Write a subject."), Length(max=200)])
    body = TextAreaField("Message", description="Markdown. Placeholders in braces are filled for each recipient.",
                         validators=[DataRequired("Write the message."), Length(max=MAX_BODY)])
    preview_as = SelectField("Preview as", choices=[], validate_choice=False, validators=[Optional(), Length(max=254)])
    # The count the organizer saw in the preview: sending refuses if the segment changed since.
    expected = IntegerField(validators=[Optional(), NumberRange(0, 1_000_000)])


class MessageTextForm(Form):
    subject = StringField("Subject", validators=[DataRequired("Write a subject."), Length(max=200)])
    body = TextAreaField("Message", validators=[DataRequired("Write the message."), Length(max=MAX_TEXT_BODY)])

