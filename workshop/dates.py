"""Times as people read them: the one place that turns stored UTC into an event's local time (and
back), and the named formats that pages and emails share (Jinja filters ``local``, ``datefmt``,
``slot_label`` and ``slot_hours``, registered in ``create_app``).

Every timestamp column holds naive UTC; every time a person reads about an event is in the
event's time zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

# The ways a date or time is written, by name. A name says what it is for, so a page and an email
# about the same moment write it alike.
FORMATS = {
    "date": "%-d %b %Y",  # 3 Jun 2025
    "long date": "%-d %B %Y",  # 3 June 2025
    "short date": "%-d %b",  # 3 Jun
    "short day": "%a %-d %b",  # Tue 3 Jun
    "day": "%A %-d %B",  # Tuesday 3 June
    "full day": "%A %-d %B %Y",  # Tuesday 3 June 2025
    "slot": "%a %-d %b, %H:%M",  # Tue 3 Jun, 09:00
    "long slot": "%A %-d %B, %H:%M",  # Tuesday 3 June, 09:00
    "clock on day": "%H:%M on %a %-d %b",  # 09:00 on Tue 3 Jun
    "time": "%H:%M",  # 09:00
    "moment": "%-d %b %Y, %H:%M",  # 3 Jun 2025, 09:00
    "long moment": "%-d %B %Y at %H:%M",  # 3 June 2025 at 09:00
    "stamp": "%Y-%m-%d %H:%M",  # 2025-06-03 09:00, for records (audit details, exports, stamps)
}


def zone(event) -> ZoneInfo:
    return ZoneInfo(event.timezone)


def local(event, moment: datetime | None) -> datetime | None:
    """A stored UTC time in the event's time zone (aware)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(zone(event))


def to_utc(event, moment: datetime | None) -> datetime | None:
    """A wall-clock time in the event's time zone (naive, as forms give it) as the naive UTC stored."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(event))
    return moment.astimezone(UTC).replace(tzinfo=None)


def local_naive(event, moment: datetime | None) -> datetime | None:
    """The event's wall-clock time of a stored UTC time, without its zone (what a form field shows)."""
    value = local(event, moment)
    return value.replace(tzinfo=None) if value is not None else None


def datefmt(value: date | datetime | None, name: str) -> str:
    """``value`` written the named way (``FORMATS``); nothing for None."""
    return value.strftime(FORMATS[name]) if value is not None else ""


def slot_hours(slot, event) -> str:
    """A slot's start and end in the event's time zone: "09:00–09:45"."""
    return f"{datefmt(local(event, slot.starts_at), 'time')}–{datefmt(local(event, slot.ends_at), 'time')}"


def slot_label(slot, event) -> str:
    """A slot as people read it: "Tue 3 Jun, 09:00–09:45", in the event's time zone."""
    return f"{datefmt(local(event, slot.starts_at), 'slot')}–{datefmt(local(event, slot.ends_at), 'time')}"


def register(app) -> None:
    app.jinja_env.filters.update(local=lambda moment, event: local(event, moment), datefmt=datefmt,
                                 slot_hours=slot_hours, slot_label=slot_label)
