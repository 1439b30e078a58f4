"""The event's own wording of its messages travels with an exported event (format version 4); a file
from before (version 3) imports with the built-in wording; a bad text is refused before anything is written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.helpers import make_event, make_user, wipe_database
from workshop.extensions import db
from workshop.models import Event, MessageText
from workshop.services import texts
from workshop.services.transfer import export_event, import_event


def build() -> None:
    organizer = make_user("org@example.org", "Olga Organizer")
    event = make_event("retreat", organizers=[organizer])
    texts.save(organizer, event, "invitation", "Come to {event}, {name}",
               "Dear {name},\n\nJoin us on {dates}{venue}. Your link, until {expires}:\n\n{link}")
    texts.save(organizer, event, "acceptance", "Seat kept at {event}", "See you, {name}. {agreement_link}")
    db.session.commit()


def own() -> dict[str, tuple[str, str, str | None]]:
    return {t.kind: (t.subject, t.body, t.updated_by.email if t.updated_by else None)
            for t in db.session.scalars(sa.select(MessageText))}


def test_the_event_s_own_texts_round_trip(ctx):
    build()
    before, rows = export_event("retreat"), own()
    assert before["version"] == 4 and [t["kind"] for t in before["texts"]] == ["acceptance", "invitation"]
    wipe_database()
    import_event(before)
    db.session.commit()
    assert own() == rows and rows["invitation"][2] == "org@example.org"
    after = export_event("retreat")
    assert after["texts"] == before["texts"]


def test_a_version_3_file_imports_with_the_built_in_texts(ctx):
    build()
    data = export_event("retreat")
    data["version"] = 3
    del data["texts"]
    wipe_database()
    import_event(data)
    db.session.commit()
    assert own() == {}


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.append(dict(t[0])), "texts[2]: the acceptance message appears twice"),
    (lambda t: t[0].update(kind="farewell"), "texts[0]: there is no 'farewell' message"),
    (lambda t: t[0].update(body="Hello {nickname}"), "texts[0]: {nickname} is not a placeholder"),
    (lambda t: t[1].update(body="Dear {name}, you are invited."), "texts[1]: The invitation must carry {link}"),
    (lambda t: t[1].update(subject="   "), "texts[1]: Write a subject."),
    (lambda t: t[1].update(subject="Your link {link}"), "{link} is not a placeholder a subject may hold"),
])
def test_a_bad_text_is_refused_before_anything_is_written(ctx, damage, message):
    build()
    data = export_event("retreat")
    damage(data["texts"])
    wipe_database()
    with pytest.raises(ValueError) as refused:
        import_event(data)
    assert message in str(refused.value)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_a_version_4_file_without_its_texts_is_refused(ctx):
    build()
    data = export_event("retreat")
    del data["texts"]
    with pytest.raises(ValueError, match="missing texts"):
        import_event(data)
