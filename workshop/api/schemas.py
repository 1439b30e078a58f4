"""The API's answers, as pydantic models: the routes build them, and the OpenAPI document publishes their
JSON Schema, so what is documented is what is sent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..services.exports import ScheduleExport


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(Answer):
    error: str = Field(description="What went wrong, in words a person can act on.")


class Me(Answer):
    email: str
    name: str


class EventSummary(Answer):
    slug: str
    title: str
    kind: Literal["workshop", "unconference"]
    status: Literal["draft", "inviting", "open", "running", "closed", "archived"]
    starts_on: date
    ends_on: date
    timezone: str
    venue: str
    content_open: bool = Field(description="Whether the talks and the schedule are open to you (an attendee "
                               "who signed the current agreement, or an organizer).")
    url: str


class EventList(Answer):
    events: list[EventSummary]


class Talk(Answer):
    id: str
    title: str
    abstract: str
    kind: Literal["talk", "discussion", "demo", "lightning"]
    tier: Literal["public", "attendees", "session", "restricted"] = Field(description="In force now.")
    status: Literal["submitted", "accepted", "rejected", "withdrawn"] | None = Field(
        description="The review's outcome: for the talk's speakers and the organizers; null for others.")
    duration_minutes: int
    speakers: list[str]
    chatham_house: bool
    no_recording: bool
    url: str


class TalkList(Answer):
    talks: list[Talk] = Field(description="Every talk of the event you may see, by title.")


class SignUpItem(Answer):
    talk_id: str
    title: str
    status: Literal["confirmed", "waitlisted"]
    waitlist_position: int | None = Field(description="1 for the head of the queue; null for a seat.")
    on_schedule: bool = Field(description="Whether the latest release holds the session.")
    starts_at: datetime | None
    ends_at: datetime | None
    room: str | None
    attended: bool


class SignUpList(Answer):
    signups: list[SignUpItem] = Field(description="Your seats and waitlist places, in time order.")


MODELS: list[type[BaseModel]] = [Error, Me, EventList, EventSummary, TalkList, Talk, SignUpList, ScheduleExport]
