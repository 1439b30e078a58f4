"""Clear refusals: what went wrong and what to do next, in the site's layout, and nothing changed."""

from tests.helpers import login_as, make_candidate, nothing_changes, text_of
from workshop.models import CandidateStatus


def test_bulk_with_nothing_ticked_returns_to_the_filtered_list_with_an_error(client, world):
    make_candidate(world.event, "pat@example.org", name="Pat Proposed")
    make_candidate(world.event, "ann@example.org", name="Ann Approved", status=CandidateStatus.APPROVED)
    login_as(client, world.organizer)
    with nothing_changes():
        answer = client.post("/e/retreat/manage/invites/bulk",
                             data={"action": "approve", "status": "proposed", "q": "pat", "sort": "name"})
    page = text_of(answer)
    assert answer.status_code == 400
    assert "Tick at least one person first" in page and "Nothing was changed" in page
    assert "Pat Proposed" in page and "Ann Approved" not in page  # the list as it was filtered
    assert 'name="q" type="search" value="pat"' in page


def test_forbidden_page_says_what_to_do_next_in_the_layout(client, world):
    login_as(client, world.attendee)
    answer = client.get("/e/retreat/manage/")
    page = text_of(answer)
    assert answer.status_code == 403
    assert "Not allowed" in page and "ask the event's organizers" in page
    assert '<header class="topbar">' in page  # the layout, not a bare page


def test_bad_request_page_says_what_to_do_next(client, world):
    login_as(client, world.organizer)
    answer = client.get("/e/retreat/manage/audit?since=someday", headers={"Referer": "http://localhost/e/retreat/manage/"})
    page = text_of(answer)
    assert answer.status_code == 400
    assert "must be a date" in page and "Go back, correct what the message names" in page
    assert 'href="http://localhost/e/retreat/manage/"' in page  # back where they came from


def test_conflict_page_says_to_reload(client, world):
    login_as(client, world.organizer)
    with nothing_changes():
        answer = client.post(f"/e/retreat/manage/organizers/{world.organizer.id}/remove")
    page = text_of(answer)
    assert answer.status_code == 409
    assert "at least one organizer" in page and "Reload the page to see how things stand now" in page


def test_bulk_without_an_action_also_returns_to_the_list(client, world):
    make_candidate(world.event, "pat@example.org", name="Pat Proposed")
    login_as(client, world.organizer)
    with nothing_changes():
        answer = client.post("/e/retreat/manage/invites/bulk", data={"action": "", "status": "proposed"})
    page = text_of(answer)
    assert answer.status_code == 400 and "Choose an action from the list." in page and "Pat Proposed" in page
