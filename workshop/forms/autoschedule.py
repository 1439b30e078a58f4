from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField
from wtforms.validators import DataRequired, InputRequired, NumberRange

from ..services.autoschedule import MAX_SECONDS


class AutoScheduleForm(FlaskForm):
    scope = SelectField("What to schedule", validators=[DataRequired("Choose what to schedule.")])
    time_limit = IntegerField("Time limit (seconds)", default=10, validators=[
        InputRequired("Give a time limit."), NumberRange(1, MAX_SECONDS, f"From 1 to {MAX_SECONDS} seconds.")])
    seed = IntegerField("Seed", default=0, description="The same seed and input give the same schedule.",
                        validators=[InputRequired("Give a seed."), NumberRange(0, 2**31 - 1, "A whole number.")])


class ApplyForm(FlaskForm):
    payload = HiddenField(validators=[DataRequired("The preview is empty.")])
