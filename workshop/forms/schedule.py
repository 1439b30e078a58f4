"""Forms of the schedule: rooms, slots, placing sessions in the grid, and speakers' availability."""

from __future__ import annotations

import re
from datetime import time

from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..services.schedule import MAX_SPAN
from .base import Form

ROW_ID = 2**31 - 1  # the largest id a row can have
TIME = re.compile(r"^(\d{1,2})[:.h](\d{2})$")


def parse_times(text: str) -> list[time]:
    """Start times written as "09:00, 10:30, 14:00" (commas or spaces between them).

    Raises ValueError naming the first entry that is not a time of day.
    """
    times = []
    for token in re.split(r"[,;\s]+", (text or "").strip()):
        if not token:
            continue
        match = TIME.match(token)
        if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError(f"“{token[:20]}” is not a time of day: write times as HH:MM, such as 09:00, 14:30.")
        times.append(time(int(match.group(1)), int(match.group(2))))
    return times


class RoomForm(Form):
    name = StringField("Name", validators=[DataRequired("Give the room a name."), Length(max=100)])
    capacity = IntegerField("Seats", validators=[InputRequired("Say how many people the room holds."),
                                                 NumberRange(1, 100_000, "A room holds from 1 to 100,000 people.")])
    closed_door = BooleanField("Closed door: fit for session-tier and restricted talks")


class SlotsForm(Form):
    day = DateField("Day", validators=[InputRequired("Choose the day.")])
    starts = StringField("Start times", description="In the event's time zone, separated by commas: "
                         "09:00, 10:30, 14:00.",
                         validators=[DataRequired("Give at least one start time, such as 09:00, 10:30."),
                                     Length(max=500)])
    minutes = IntegerField("Minutes each", default=45, validators=[
        InputRequired("Say how long each slot lasts."), NumberRange(5, 480, "A slot lasts from 5 minutes to 8 hours.")])
    block = StringField("Block", description="Optional label that groups slots, such as “Day 1, morning”.",
                        validators=[Optional(), Length(max=60)])
    is_break = BooleanField("Breaks: no talks in these slots (lunch, coffee, a plenary)")

    def validate_starts(self, field) -> None:
        try:
            times = parse_times(field.data)
        except ValueError as error:
            raise ValidationError(str(error)) from error
        if not times:
            raise ValidationError("Give at least one start time, such as 09:00, 10:30.")
        if len(times) > 48:
            raise ValidationError("Add at most 48 slots at a time.")

    @property
    def times(self) -> list[time]:
        return parse_times(self.starts.data)


class PlaceForm(Form):
    """Place an accepted session in a cell, or move it there. Ids are checked against the event by the service."""

    proposal = HiddenField(validators=[DataRequired("Say which session."), Length(max=24)])
    room = SelectField("Room", coerce=int, validate_choice=False, validators=[
        InputRequired("Choose a room."), NumberRange(1, ROW_ID, "Choose a room from the list.")])
    slot = SelectField("Time", coerce=int, validate_choice=False, validators=[
        InputRequired("Choose a time."), NumberRange(1, ROW_ID, "Choose a time from the list.")])
    # Empty: as many consecutive slots as the talk's length needs.
    span = IntegerField("Slots", validators=[Optional(), NumberRange(1, MAX_SPAN,
                                                                     f"A session runs over 1 to {MAX_SPAN} slots.")])
    # Sent by the confirmation page when people signed up for the session: they are told of the move.
    confirm = BooleanField()


class SessionForm(Form):
    """Act on one placed session (unplace, pin or unpin)."""

    proposal = HiddenField(validators=[DataRequired("Say which session."), Length(max=24)])
    confirm = BooleanField()


class BreakForm(Form):
    """Make a slot a break, or open it for talks again."""

    is_break = BooleanField(false_values=("false", "", "0"))


class RoomCodeForm(Form):
    """An attendee checks in with the code shown in the room."""

    code = StringField("Room code", filters=[lambda v: v.strip() if isinstance(v, str) else v],
                       description="Shown on the screen in the room, from 10 minutes before the session starts.",
                       validators=[DataRequired("Type the code shown in the room."),
                                   Length(max=20, message="A room code has 6 letters and digits.")])


class AvailabilityForm(Form):
    """The slots a speaker cannot make; the view fills the choices with the event's slots."""

    unavailable = SelectMultipleField("I cannot make these slots", coerce=int, choices=[],
                                      widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
