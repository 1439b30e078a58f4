"""The forms of view-only materials: the speakers' choice, and the reader's report of time in view."""

from __future__ import annotations

from wtforms import IntegerField, RadioField
from wtforms.validators import InputRequired, NumberRange

from .base import Form

VIEW_ONLY, DOWNLOAD = "view-only", "download"


class ViewOnlyForm(Form):
    """A speaker makes a PDF view-only, or lets it be downloaded again (one button each)."""

    mode = RadioField("How the file is shared", choices=[(VIEW_ONLY, "Read in the browser only"),
                                                          (DOWNLOAD, "Downloaded, stamped")],
                      validators=[InputRequired("Say how the file is shared.")])


class SeenForm(Form):
    """Sent by the reader while a page is in view and when it leaves it."""

    page = IntegerField("Page", validators=[InputRequired(), NumberRange(1, 100_000)])
    seconds = IntegerField("Seconds in view", validators=[InputRequired(), NumberRange(0, 86_400)])
