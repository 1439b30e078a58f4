from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateTimeLocalField, StringField
from wtforms.validators import Length, Optional

from .base import Form


class MaterialUploadForm(Form):
    """A speaker's file. Its type is checked from its content by the service, never from its name."""

    # ``accept`` only helps the file picker; the service decides from the bytes.
    file = FileField("File", validators=[FileRequired("Choose a file to upload.")], render_kw={
        "accept": ".pdf,.pptx,.docx,.xlsx,.odp,.odt,.ods,.png,.jpg,.jpeg,.gif,.webp,.zip,.mp4"})


class TraceForm(Form):
    """Organizers paste the download id printed on a leaked copy. A search (GET): no CSRF token needed."""

    class Meta:
        csrf = False

    download_id = StringField("Download id", description="Printed at the foot of every page of the copy.",
                              validators=[Optional(), Length(max=200)])


class MaterialExpiryForm(Form):
    """When access to one file ends; empty: it never does."""

    expires_at = DateTimeLocalField("Access ends on (event's time zone)", format="%Y-%m-%dT%H:%M",
                                    validators=[Optional()],
                                    description="After this, only the speakers and the organizers open it. "
                                                "Leave it empty to keep it open.")


class OnlyStampedForm(Form):
    """A session or restricted talk takes only files that leave watermarked."""

    only_stamped = BooleanField("Only watermarked files",
                                description="Refuse files that cannot be watermarked (anything but PDF, PNG and "
                                            "JPEG), and stop serving those already here to anyone but the speakers. "
                                            "Turning it off waits for every other confirmed speaker's consent.")


class LeakFileForm(Form):
    """Organizers hand in a leaked copy (PDF, PNG or JPEG) to find every download id it still carries."""

    file = FileField("Leaked file", validators=[FileRequired("Choose the leaked file.")],
                     description="A PDF, or a screenshot or photo of a page (PNG or JPEG). The type is read "
                                 "from the file itself.",
                     render_kw={"accept": ".pdf,.png,.jpg,.jpeg"})
