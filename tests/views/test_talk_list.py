"""The talk list comes a page at a time, however many talks an event has."""

from __future__ import annotations

from tests.helpers import login_as, make_talk, text_of
from workshop.extensions import db
from workshop.models import Proposal
from workshop.views.proposals import PAGE_SIZE


def test_the_talk_list_comes_a_page_at_a_time(client, world):
    speaker = world.attendee
    for i in range(PAGE_SIZE + 3):
        make_talk(world.event, world.organizer, f"Talk number {i:03d}")
    login_as(client, speaker)
    first = text_of(client.get("/e/retreat/proposals/"))
    assert first.count('<li class="card talk">') == PAGE_SIZE
    assert f'Talks <span class="muted count">{PAGE_SIZE + 3}</span>' in first
    assert f"Talk number {PAGE_SIZE + 2:03d}" in first and "Talk number 002" not in first  # newest first
    assert "Page 1 of 2" in first and 'href="/e/retreat/proposals/?page=2"' in first
    second = text_of(client.get("/e/retreat/proposals/?page=2"))
    assert second.count('<li class="card talk">') == 3 and "Talk number 000" in second
    # A search keeps its words from page to page.
    found = text_of(client.get("/e/retreat/proposals/", query_string={"q": "number"}))
    assert 'href="/e/retreat/proposals/?page=2&q=number"' in found  # text_of reads entities as characters
    assert client.get("/e/retreat/proposals/?page=x").status_code == 400
    assert db.session.query(Proposal).count() == PAGE_SIZE + 3


def test_organizers_find_their_tools_on_the_talk_list(client, world):
    make_talk(world.event, world.attendee, "Someone's talk")
    login_as(client, world.organizer)
    page = text_of(client.get("/e/retreat/proposals/"))
    assert 'href="/e/retreat/proposals/export.csv">Export CSV' in page and 'aria-label="Event management"' in page
    login_as(client, world.attendee)
    page = text_of(client.get("/e/retreat/proposals/"))
    assert "Export CSV" not in page and 'aria-label="Event management"' not in page
