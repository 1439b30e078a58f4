"""Hostile PDFs are defused or refused within their time and memory budget; the caller survives."""

from __future__ import annotations

import io
import os
import signal
import time

import pikepdf
import pytest
from pypdf import PdfReader

from tests.helpers import make_pdf
from tests.materials import pdfs
from workshop import isolate
from workshop.watermark import PDF, Limits, StampError, prepare, stamp

pytestmark = pytest.mark.dbfree  # nothing here touches the database: CI runs it once

LINES = ["Ada Lovelace", "ada@example.org", "2025-01-01 10:00 UTC", "download id AbCdEfGhIjKlMnOp"]


def test_scripts_and_actions_are_removed_and_safe_links_kept():
    prepared = prepare(pdfs.with_scripts(), PDF)
    assert prepared.pages == 2
    assert "JavaScript" in prepared.removed and "an action run when the file opens" in prepared.removed
    for data in (prepared.data, stamp(prepared.data, PDF, LINES, None)):
        raw = pdfs.everything(data)
        for gone in (b"/JavaScript", b"/JS", b"/OpenAction", b"/Launch", b"calc.exe", b"javascript:", b"/SubmitForm",
                     b"/ImportData", b"/XFA", b"/AA", b"app.alert"):
            assert gone not in raw, gone
        assert b"https://example.org/paper" in raw  # an ordinary web link stays
        pdf = pikepdf.open(io.BytesIO(data))
        link = pdf.pages[0].obj.Annots[4]
        assert pikepdf.Name.GoTo == link.A.S and "/Next" not in link.A  # the move stays, its chained import goes
        assert "Scripted 1" in PdfReader(io.BytesIO(data)).pages[0].extract_text()


def test_a_stored_file_that_was_never_prepared_is_still_defused_when_stamped():
    raw = pdfs.everything(stamp(pdfs.with_scripts(), PDF, LINES, None))
    assert b"app.alert" not in raw and b"/OpenAction" not in raw and b"calc.exe" not in raw


def test_embedded_html_and_attachments_are_removed():
    prepared = prepare(pdfs.with_embedded_html(), PDF)
    assert "embedded files" in prepared.removed
    raw = pdfs.everything(prepared.data)
    assert b"<script>" not in raw and b"/EmbeddedFiles" not in raw and b"/FileAttachment" not in raw
    assert "Attached 1" in PdfReader(io.BytesIO(prepared.data)).pages[0].extract_text()


def test_more_pages_than_the_limit_are_refused_with_the_limit_named():
    with pytest.raises(StampError, match="more than 300 pages.*split it"):
        prepare(pdfs.many_pages(2000), PDF)
    with pytest.raises(StampError, match="more than 300 pages"):
        stamp(pdfs.many_pages(2000), PDF, LINES, None)
    with pytest.raises(StampError, match="more than 10 pages"):
        prepare(pdfs.many_pages(11), PDF, Limits(max_pages=10))
    assert prepare(pdfs.many_pages(10), PDF, Limits(max_pages=10)).pages == 10


def test_a_thousand_pages_sharing_one_stream_are_refused_and_bounded_when_allowed():
    data = pdfs.many_pages(1000, shared=pdfs.busy_drawing(200))
    with pytest.raises(StampError, match="more than 300 pages"):
        prepare(data, PDF)
    # Allowed more pages, the copy still grows by the stamps only, never by a copy of the drawing per page.
    roomy = Limits(max_pages=1000)
    stamped = stamp(prepare(data, PDF, roomy).data, PDF, LINES, None, roomy)
    assert len(stamped) < len(data) + 1000 * 1024, (len(data), len(stamped))
    assert len(PdfReader(io.BytesIO(stamped)).pages) == 1000


def test_three_hundred_pages_sharing_one_big_stream_stay_bounded():
    data = pdfs.many_pages(300, shared=pdfs.busy_drawing(1500))
    prepared = prepare(data, PDF)
    stamped = stamp(prepared.data, PDF, LINES, "AbCdEfGhIjKlMnOp")
    # Each page gains its line and its mark (about 2 KB), never a copy of the drawing.
    assert len(stamped) < 1.2 * len(data) + 300 * 3 * 1024, (len(data), len(stamped))
    reader = PdfReader(io.BytesIO(stamped))
    assert "ada@example.org" in reader.pages[299].extract_text()


@pytest.mark.parametrize("shape", ["deep", "cyclic"])
def test_a_deep_or_looping_page_tree_becomes_a_flat_list(shape):
    data = pdfs.page_tree(depth=3000) if shape == "deep" else pdfs.page_tree(cycle=True)
    prepared = prepare(data, PDF)
    assert prepared.pages == 2
    pdf = pikepdf.open(io.BytesIO(prepared.data))
    assert all(kid.Type == pikepdf.Name.Page for kid in pdf.Root.Pages.Kids)
    texts = [page.extract_text() for page in PdfReader(io.BytesIO(stamp(prepared.data, PDF, LINES, None))).pages]
    assert ["Tree 1" in texts[0], "Tree 2" in texts[1]] == [True, True]
    assert all("ada@example.org" in text for text in texts)


@pytest.mark.parametrize("where", ["content", "image"])
def test_a_decompression_bomb_is_refused_and_the_caller_survives(where):
    data = pdfs.with_bomb(where, gigabytes=3)
    assert len(data) < 8 * 1024 * 1024
    with pytest.raises(StampError, match="unpacks to more than 1024 MB"):
        prepare(data, PDF)
    assert os.getpid() and prepare(make_pdf(), PDF).pages == 2  # this process and the helper carry on


def test_a_bomb_past_a_raised_expansion_limit_hits_the_memory_limit_instead():
    limits = Limits(max_expanded_mb=100_000, memory_mb=300)
    with pytest.raises(StampError, match="more memory|too long"):
        prepare(pdfs.with_bomb("content", gigabytes=3), PDF, limits)
    # Stamping an unprepared bomb reads its content stream: the same budget stops it.
    with pytest.raises(StampError, match="more memory|too long"):
        stamp(pdfs.with_bomb("content", gigabytes=3), PDF, LINES, None, limits)


def test_work_past_the_time_limit_is_stopped_with_a_clear_message():
    with pytest.raises(StampError, match="takes too long"):
        prepare(pdfs.many_pages(300, shared=pdfs.busy_drawing(3000)), PDF, Limits(prepare_seconds=0.05))


# --- the child process itself -----------------------------------------------------------------


def child_environment() -> dict:
    return dict(os.environ)


def child_crash() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def child_hog(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def child_sleep(seconds: float) -> None:
    time.sleep(seconds)


def test_the_child_sees_no_secret_and_its_crash_or_hunger_costs_the_caller_nothing(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "do-not-leak")
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:password@db/conclave")
    isolate._get_helper(fresh=True)
    environment = isolate.run(child_environment, (), isolate.Budget(10, 256))
    assert "SECRET_KEY" not in environment and "DATABASE_URL" not in environment and "PATH" in environment
    with pytest.raises(isolate.Overrun, match="reader stopped") as crash:
        isolate.run(child_crash, (), isolate.Budget(10, 256))
    assert crash.value.kind == "crash"
    with pytest.raises(isolate.Overrun, match="more memory") as hunger:
        isolate.run(child_hog, (2048,), isolate.Budget(10, 256))
    assert hunger.value.kind == "memory"
    started = time.monotonic()
    with pytest.raises(isolate.Overrun, match="takes too long") as slow:
        isolate.run(child_sleep, (30,), isolate.Budget(0.5, 256))
    assert slow.value.kind == "time" and time.monotonic() - started < 10
    assert isolate.run(child_hog, (10,), isolate.Budget(10, 256)) == 10 * 1024 * 1024  # and the next call works
