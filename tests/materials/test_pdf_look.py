"""Stamped copies stay small and keep the look of the page: size, shared resources, PSNR and SSIM."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pikepdf
import pytest

from bench import quality, samples
from workshop import forensic
from workshop.watermark import PDF, prepare, stamp

pytestmark = pytest.mark.dbfree  # nothing here touches the database: CI runs it once

DOWNLOAD_ID = "Q2xvc2VseUhlbGQx"
LINES = ["Ada Lovelace", "ada@example.org", "2025-01-01 10:00 UTC", f"download id {DOWNLOAD_ID}"]
KINDS = samples.deck_kinds(10)  # each kind of slide once


@cache
def deck() -> tuple[bytes, bytes]:
    original = samples.deck(10)
    return original, stamp(prepare(original, PDF).data, PDF, LINES, DOWNLOAD_ID)


@cache
def paper() -> tuple[bytes, bytes]:
    original = samples.paper(10)
    return original, stamp(prepare(original, PDF).data, PDF, LINES, DOWNLOAD_ID)


@cache
def rendered(which: str) -> list[tuple[np.ndarray, np.ndarray]]:
    original, stamped = deck() if which == "deck" else paper()
    return list(zip(quality.render(original), quality.render(stamped), strict=True))


@pytest.mark.parametrize("which", ["deck", "paper"])
def test_a_stamped_copy_is_at_most_a_fifth_larger(which):
    original, stamped = deck() if which == "deck" else paper()
    assert len(stamped) <= 1.2 * len(original), (len(original), len(stamped))


def test_stamp_resources_are_shared_and_streams_compressed():
    original, stamped = deck()
    before, after = pikepdf.open(io.BytesIO(original)), pikepdf.open(io.BytesIO(stamped))
    added_fonts, added_states = set(), set()
    for old, new in zip(before.pages, after.pages, strict=True):
        old_fonts, new_fonts = old.obj.Resources.Font, new.obj.Resources.Font
        extra = [font for name, font in new_fonts.items() if name not in old_fonts]
        assert len(extra) == 1  # the stamp's one font, whatever the page had
        added_fonts |= {font.objgen for font in extra}
        states = new.obj.Resources.ExtGState
        added_states |= {state.objgen for _, state in states.items()}
        contents = new.obj.Contents
        assert isinstance(contents, pikepdf.Stream) and contents.Filter == pikepdf.Name.FlateDecode
    # One font and one graphics state per strength of the mark, each one object shared by every page.
    assert len(added_fonts) == 1 and 2 <= len(added_states) <= 2 * len(forensic.MARK_ALPHAS)


@pytest.mark.parametrize("index, kind", list(enumerate(KINDS)))
def test_every_kind_of_slide_keeps_its_look(index, kind):
    before, after = rendered("deck")[index]
    assert quality.psnr(before, after) >= 30
    # On a pure black page too: there the mark lifts black by one grey level, in smaller squares.
    assert quality.ssim_outside_stamp(before, after) >= 0.97


def test_paper_pages_keep_their_look():
    for before, after in rendered("paper"):
        assert quality.psnr(before, after) >= 30
        assert quality.ssim_outside_stamp(before, after) >= 0.97


@pytest.mark.parametrize("kind", ["title", "dark", "black", "photo", "text"])
def test_the_visible_line_reads_against_its_page_without_a_band(kind):
    before, after = rendered("deck")[KINDS.index(kind)]
    strip = slice(-int(quality.STAMP_STRIP_PT * 100 / 72), None)
    old, new = quality.grey(before)[strip], quality.grey(after)[strip]
    changed = np.abs(new - old) > 40
    assert changed.mean() > 0.005, "the line is drawn"
    assert changed.mean() < 0.15, "thin text, not a band over the slide"
    # The text's pixels differ from what was under them by much more than the mark does.
    assert np.median(np.abs(new - old)[changed]) > 60


def test_a_copy_stored_before_preparation_still_gets_a_line_that_reads():
    original = samples.deck(5)  # page 5 is a dark slide
    stamped = stamp(original, PDF, LINES, DOWNLOAD_ID)  # not prepared: no tone noted on its pages
    strip = quality.grey(quality.render(stamped)[4])[-int(quality.STAMP_STRIP_PT * 100 / 72):]
    background = np.median(strip)
    assert background < 60 and strip.max() > background + 120  # light text on the dark slide
