"""The forgiving CSV import: usual header spellings, a column-mapping step, the good rows alone, and the bad
rows back as a CSV with the reason per line."""

import csv
import io

import pytest
import sqlalchemy as sa

from tests.helpers import login_as, make_candidate, make_event, make_user, text_of
from workshop.extensions import db
from workshop.models import AuditEntry, Candidate, CandidateStatus
from workshop.services import invites
from workshop.services.errors import DomainError

MESSY = ("E-mail;Full name;Organisation;Shoe size\n"
         "ada@example.org;Ada Lovelace;Engines;38\n"
         "not-an-address;Bad Row;Nowhere;40\n"
         "grace@example.org;Grace Hopper;Navy;39\n"
         "ADA@example.org;Ada Again;Engines;38\n")


@pytest.fixture
def setting(ctx):
    organizer = make_user("org@example.org")
    return make_event("retreat", organizers=[organizer]), organizer


@pytest.mark.parametrize(("header", "expected"), [
    (["Email", "Name", "Affiliation"], ["email", "name", "affiliation"]),
    (["E-mail", "Full name", "Organisation"], ["email", "name", "affiliation"]),
    (["Email Address", "full_name", "Organization", "Tags"], ["email", "name", "affiliation", "tags"]),
    (["EMAIL", "Email", "Notes"], ["email", "ignore", "ignore"]),  # a field is read from its first column
])
def test_usual_header_spellings_are_recognised(header, expected):
    assert invites.guess_columns(header) == expected


def test_messy_file_previews_with_semicolons_and_extra_columns(setting):
    event, _ = setting
    preview = invites.preview_import(event, MESSY)
    assert preview.columns == ["email", "name", "affiliation", "ignore"]
    assert preview.needs_mapping  # a column is read as nothing: the organizer is asked to confirm
    assert [r.email for r in preview.good_rows] == ["ada@example.org", "grace@example.org"]
    assert [(r.line, r.errors) for r in preview.bad_rows] == [
        (3, ["“not-an-address” is not a valid email address"]),
        (5, ["ada@example.org also appears on line 2"]),
    ]
    assert preview.importable and not preview.ok


def test_unknown_headers_need_the_organizer_to_map_them(setting):
    event, _ = setting
    text = "Contact,Who\nada@example.org,Ada\n"
    preview = invites.preview_import(event, text)
    assert preview.rows == [] and preview.needs_mapping and "no column holds the email" in preview.file_errors[0]
    mapped = invites.preview_import(event, text, ["email", "name"])
    assert mapped.ok and (mapped.rows[0].email, mapped.rows[0].name) == ("ada@example.org", "Ada")


def test_bad_mappings_are_refused(setting):
    event, _ = setting
    with pytest.raises(DomainError):
        invites.parse_columns(["email", "password"])
    twice = invites.preview_import(event, "a,b\nada@example.org,x\n", ["email", "email"])
    assert twice.rows == [] and "same field" in twice.file_errors[0]
    wrong_width = invites.preview_import(event, "Email,Name\nada@example.org,Ada\n", ["email"])
    assert wrong_width.columns == ["email", "name"] and wrong_width.file_errors


def test_good_rows_import_alone_and_the_audit_says_how_many_were_left_out(setting):
    event, organizer = setting
    with pytest.raises(DomainError):
        invites.import_candidates(organizer, event, MESSY)  # all or nothing by default
    db.session.rollback()
    preview = invites.import_candidates(organizer, event, MESSY, only_good=True)
    db.session.commit()
    assert len(preview.good_rows) == 2
    people = db.session.execute(sa.select(Candidate.email, Candidate.name, Candidate.affiliation)
                                .order_by(Candidate.email)).all()
    assert people == [("ada@example.org", "Ada Lovelace", "Engines"), ("grace@example.org", "Grace Hopper", "Navy")]
    assert db.session.scalar(sa.select(AuditEntry.detail)) == "proposed; 2 bad rows left out"


def test_no_good_rows_imports_nothing(setting):
    event, organizer = setting
    with pytest.raises(DomainError):
        invites.import_candidates(organizer, event, "email\nnope\n", only_good=True)


def test_bad_rows_come_back_as_the_file_had_them_with_the_reason(setting):
    event, _ = setting
    make_candidate(event, "grace@example.org")
    rows = list(csv.reader(io.StringIO(invites.bad_rows_csv(invites.preview_import(event, MESSY)))))
    assert rows[0] == ["E-mail", "Full name", "Organisation", "Shoe size", "line", "problem"]
    assert rows[1] == ["not-an-address", "Bad Row", "Nowhere", "40", "3",
                       "“not-an-address” is not a valid email address"]
    assert rows[2][-1] == "grace@example.org is already on the invite list"
    assert len(rows) == 4


def test_the_page_maps_imports_the_good_rows_and_hands_back_the_bad(client, setting):
    event, organizer = setting
    login_as(client, organizer)
    text = "Contact;Who;Lab\nada@example.org;Ada;Engines\nbroken;Bo;X\n"
    first = client.post(f"/e/{event.slug}/manage/invites/import", data={"stage": "upload", "text": text})
    assert first.status_code == 422 and "no column holds the email" in text_of(first)
    base = {"stage": "confirm", "text": text, "column": ["email", "name", "affiliation"]}
    checked = client.post(f"/e/{event.slug}/manage/invites/import", data={**base, "action": "check"})
    page = text_of(checked)
    assert "Import the 1 good rows" in page and "Download the 1 bad rows" in page
    bad = client.post(f"/e/{event.slug}/manage/invites/import", data={**base, "action": "bad_rows"})
    assert bad.status_code == 200 and bad.mimetype == "text/csv"
    assert "broken;Bo;X" not in bad.get_data(as_text=True)  # written as CSV, with the reason
    assert "“broken” is not a valid email address" in bad.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Candidate)) == 0
    done = client.post(f"/e/{event.slug}/manage/invites/import", data={**base, "action": "import_good"})
    assert done.status_code == 302
    assert db.session.scalars(sa.select(Candidate.affiliation)).all() == ["Engines"]
    unknown = client.post(f"/e/{event.slug}/manage/invites/import", data={**base, "column": ["email", "x", "y"]})
    assert unknown.status_code == 400


def test_export_follows_the_filter_on_screen(client, setting):
    event, organizer = setting
    make_candidate(event, "ada@example.org", name="Ada")
    make_candidate(event, "bob@example.org", name="Bob", status=CandidateStatus.APPROVED)
    login_as(client, organizer)
    listing = text_of(client.get(f"/e/{event.slug}/manage/invites/?status=approved"))
    assert "export.csv?status=approved" in listing
    rows = list(csv.reader(io.StringIO(client.get(
        f"/e/{event.slug}/manage/invites/export.csv?status=approved").get_data(as_text=True))))
    assert [r[0] for r in rows[1:]] == ["bob@example.org"]
    assert client.get(f"/e/{event.slug}/manage/invites/export.csv?status=nonsense").status_code == 400
