"""A leaked copy names its person through the forensic mark, whatever was done to it; noise names nobody."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pikepdf
import pytest
from PIL import Image
from pypdf import PdfReader

from bench import quality, samples
from bench.trace import grey_rgb, jpeg_bytes, png, quarter, reprinted, strip_visible_line
from tests.helpers import make_pdf
from tests.materials.test_units import rotated_pdf
from workshop import forensic
from workshop.models.base import public_id
from workshop.watermark import (
    AGAINST_ORIGINAL,
    PDF,
    StampError,
    find_against_originals,
    find_download_ids,
    prepare,
    render_page,
    stamp,
)

pytestmark = pytest.mark.dbfree  # files in, ids out: nothing here touches the database

KINDS = samples.deck_kinds(10)
IDS = ("Tr4ceMeBackPls01", "AnotherPerson_-2")


def lines_for(download_id: str) -> list[str]:
    return ["Ada Lovelace", "ada@example.org", "2025-01-01 10:00 UTC", f"download id {download_id}"]


@cache
def copies() -> dict[str, bytes]:
    prepared = prepare(samples.deck(10), PDF).data
    return {download_id: stamp(prepared, PDF, lines_for(download_id), download_id) for download_id in IDS}


@cache
def page(download_id: str, kind: str, dpi: float = 100, stripped: bool = False) -> np.ndarray:
    data = copies()[download_id]
    if stripped:
        data = strip_visible_line(data, lines_for(download_id))
    return quality.render(data, dpi)[KINDS.index(kind)]


def ids(data: bytes, *known: str) -> set[str]:
    """The download ids found, a mark's first 8 characters completed from ``IDS`` and ``known`` as the
    access log would."""
    return {next((whole for whole in IDS + known if found.matches(whole)), found.download_id)
            for found in find_download_ids(data)}


def test_a_copy_names_its_person_by_its_text_and_its_mark():
    """Both, each on its own row: the visible line may have been altered (the trace merges them once the
    access log says they are one download)."""
    for download_id in IDS:
        mark, text = sorted(find_download_ids(copies()[download_id]), key=lambda found: found.how)
        assert (mark.download_id, mark.how, mark.pages) == (download_id[:8], ("forensic mark",), tuple(range(1, 11)))
        assert (text.download_id, text.how, text.pages) == (download_id, ("visible text",), tuple(range(1, 11)))


def test_with_the_visible_line_stripped_the_mark_still_names_the_person():
    data = strip_visible_line(copies()[IDS[0]], lines_for(IDS[0]))
    assert IDS[0] not in "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    (found,) = find_download_ids(data)
    assert found.download_id == IDS[0][:8] and found.how == ("forensic mark",)  # the mark carries 48 bits
    assert found.matches(IDS[0]) and not found.matches(IDS[1]) and not found.matches("tr4cemeb" + IDS[0][8:])


def test_a_reprint_on_other_paper_still_names_the_person():
    assert ids(reprinted(copies()[IDS[1]])) == {IDS[1]}


@pytest.mark.parametrize("kind", ["title", "text", "chart", "photo", "dark", "table", "black"])
def test_one_page_rasterized_screenshotted_jpeg_or_grey_names_the_person(kind):
    download_id = IDS[KINDS.index(kind) % 2]
    rgb = page(download_id, kind)
    assert ids(png(rgb)) == {download_id}
    assert ids(jpeg_bytes(rgb, 60)) == {download_id}
    assert ids(png(grey_rgb(rgb))) == {download_id}
    screen = page(download_id, kind, dpi=72 * 1366 / 720)
    assert ids(png(screen)) == {download_id}


@pytest.mark.parametrize("kind", ["title", "text", "photo", "dark", "diagram", "photo-text", "black", "table"])
def test_any_quarter_of_a_page_names_the_person_even_after_everything(kind):
    download_id = IDS[KINDS.index(kind) % 2]
    rng = np.random.default_rng(KINDS.index(kind))
    rgb = page(download_id, kind, stripped=True)
    h, w = rgb.shape[:2]
    for top, left in ((0, 0), (0, w - w // 2), (h - h // 2, 0), (h - h // 2, w - w // 2)):  # the four corners
        assert ids(png(rgb[top:top + h // 2, left:left + w // 2])) == {download_id}
    # Stripped, 100 dpi, grey, a random quarter, JPEG at quality 60: all together, on pure black too.
    assert ids(jpeg_bytes(quarter(grey_rgb(rgb), rng), 60)) == {download_id}


def test_a_finely_textured_photograph_names_the_person_whole_and_after_jpeg():
    """Fur over the whole page: its own detail drowns a faint mark unless the reader takes the
    background out closely (the third reading)."""
    download_id = "FurryCat_Photo01"  # fixed: a test reads the same file every run
    served = stamp(prepare(samples.slide("photo", 2), PDF).data, PDF, lines_for(download_id), download_id)
    rgb = quality.render(strip_visible_line(served, lines_for(download_id)))[0]
    assert ids(png(rgb), download_id) == {download_id}
    assert ids(jpeg_bytes(rgb, 60), download_id) == {download_id}
    assert ids(png(grey_rgb(rgb)), download_id) == {download_id}


def test_a_quarter_of_a_photograph_is_read_against_its_original():
    """Fur all over: a quarter's few copies of the mark drown in it, and the blind reading seldom names
    anyone. With the original page taken away the mark stands out: every attack at once names the person,
    as does a screenshot at another scale or a turned copy. Another original names nobody, and is passed
    over."""
    original = prepare(samples.slide("photo", 2), PDF).data
    other = prepare(samples.deck(3), PDF).data
    rng = np.random.default_rng(12)
    for attempt in range(3):
        download_id = f"Cat{attempt}CornerOfPage"
        served = strip_visible_line(stamp(original, PDF, lines_for(download_id), download_id), lines_for(download_id))
        leak = jpeg_bytes(quarter(grey_rgb(quality.render(served)[0]), rng), 60)
        (found,) = find_against_originals(leak, [(other, PDF), (original, PDF)])
        assert found.matches(download_id) and found.how == (AGAINST_ORIGINAL,)
        assert find_against_originals(leak, [(other, PDF)]) == []
    screen = png(quarter(quality.render(served, 72 * 1366 / 720)[0], rng))
    (found,) = find_against_originals(screen, [(original, PDF)])
    assert found.matches(download_id)
    # A photo of a screen is seldom straight: a corner turned a little, or a quarter turn, is turned back.
    corner = Image.fromarray(quarter(quality.render(served)[0], rng))
    for angle in (4, 90):
        turned = np.asarray(corner.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=(255, 255, 255)))
        (found,) = find_against_originals(jpeg_bytes(turned, 60), [(original, PDF)])
        assert found.matches(download_id)
    # A leaked PDF is compared page by page, and names its page.
    (found,) = find_against_originals(reprinted(served), [(original, PDF)])
    assert found.matches(download_id) and found.pages == (1,)


@pytest.mark.parametrize("level", [3, 8, 15])
def test_on_a_near_black_ground_every_attack_names_the_person_and_the_page_keeps_its_look(level):
    """Between black and the deck's dark slide: JPEG rounds a block's mean to steps of 1.6 grey levels
    there, so the mark adds a level to light modules and takes one from dark ones."""
    download_id = f"NearBlackGr0und{level % 10}"
    original = samples.ground_slide(level)
    served = stamp(prepare(original, PDF).data, PDF, lines_for(download_id), download_id)
    before, after = quality.render(original)[0], quality.render(strip_visible_line(served, lines_for(download_id)))[0]
    assert quality.ssim_outside_stamp(before, after) >= 0.97
    assert ids(png(after), download_id) == {download_id}
    assert ids(jpeg_bytes(after, 60), download_id) == {download_id}
    rng = np.random.default_rng(level)
    for _ in range(2):
        assert ids(jpeg_bytes(quarter(grey_rgb(after), rng), 60), download_id) == {download_id}


def test_a_file_prepared_for_another_layout_of_the_mark_is_looked_at_again():
    """A black slide prepared when a page held 21 copies: its noted strengths no longer fit the copies, so
    stamping notes them again instead of drawing every copy at the plain strength (too bright on black)."""
    with pikepdf.open(io.BytesIO(prepare(samples.ground_slide(0), PDF).data)) as pdf:
        pdf.pages[0].obj["/ConclaveMarkLevels"] = pikepdf.String("3" * 21)
        out = io.BytesIO()
        pdf.save(out)
    with pikepdf.open(io.BytesIO(stamp(out.getvalue(), PDF, lines_for(IDS[0]), IDS[0]))) as served:
        content = served.pages[0].Contents.read_bytes()
        assert b"MarkLight3 gs" in content and b"MarkLight0 gs" not in content
        assert "/ConclaveMarkLevels" not in served.pages[0].obj


def test_a_rotated_page_and_a_served_single_page_carry_the_mark():
    data = stamp(prepare(rotated_pdf(90), PDF).data, PDF, lines_for(IDS[0]), IDS[0])
    assert ids(png(quality.render(data)[0])) == {IDS[0]}
    shown = render_page(prepare(samples.deck(3), PDF).data, 2, lines_for(IDS[1]), IDS[1], dpi=100)
    assert Image.open(io.BytesIO(shown)).size in ((1000, 562), (1000, 563))  # 720 × 405 pt at 100 dpi
    assert ids(shown) == {IDS[1]}


def test_files_without_a_mark_name_nobody():
    rng = np.random.default_rng(7)
    unmarked = [
        png(rng.integers(0, 256, (400, 700, 3), dtype=np.uint8)),
        png(np.full((400, 700, 3), 255, np.uint8)),
        jpeg_bytes(quality.render(samples.deck(4))[3], 60),
        png(quarter(quality.render(samples.deck(2))[1], rng)),
        stamp(prepare(make_pdf(), PDF).data, PDF, ["Ada Lovelace"], None),
    ]
    for data in unmarked:
        assert find_download_ids(data) == []


def test_a_damaged_or_altered_payload_is_never_read_as_an_id():
    download_id = public_id()
    good = forensic.payload(download_id)
    assert len(good) == 16 and good.isdigit() and forensic.id_from_payload(good) == download_id[:8]
    assert forensic.id_from_payload(good[:-1]) is None
    assert forensic.id_from_payload("9" * 16) is None  # more than 53 bits
    assert forensic.id_from_payload(good[:-1] + "x") is None
    check = int(good) & 31
    # Another id with the check of the first (a 5-bit check: one id in 32 shares it, so one that does not).
    other = next(body for bit in range(48) if forensic._check((body := (int(good) >> 5) ^ (1 << bit)).to_bytes(
        6, "big")) != check)
    assert forensic.id_from_payload(str((other << 5) | check).zfill(16)) is None
    assert forensic.symbol(download_id).shape == (forensic.ROWS, forensic.COLS) == (14, 14)


def test_what_is_not_a_pdf_or_an_image_is_refused():
    with pytest.raises(StampError, match="PDF, PNG and JPEG"):
        find_download_ids(b"hello")
    with pytest.raises(StampError, match="cannot be read"):
        find_download_ids(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
