from wtforms import BooleanField, IntegerField, SelectField
from wtforms.validators import DataRequired, InputRequired, NumberRange

from ..services.autoschedule import MAX_SECONDS
from .base import Form


class AutoScheduleForm(Form):
    scope = SelectField("What to schedule", validators=[DataRequired("Choose what to schedule.")])
    time_limit = IntegerField("Time limit (seconds)", default=10, description=(
        "The scheduler stops sooner when it proves its schedule optimal; you can also stop it yourself."),
        validators=[InputRequired("Give a time limit."),
                    NumberRange(1, MAX_SECONDS, f"From 1 to {MAX_SECONDS} seconds.")])
    seed = IntegerField("Seed", default=0, description="Another seed tries another path to a schedule.",
                        validators=[InputRequired("Give a seed."), NumberRange(0, 2**31 - 1, "A whole number.")])


class ApplyForm(Form):
    """Apply a finished run's schedule. ``confirm``: people signed up for sessions it moves are emailed."""

    confirm = BooleanField()
