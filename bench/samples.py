"""Realistic documents to stamp: a slide deck with every kind of page and a paper.

Made with reportlab, with the body font embedded as presentation programs and LaTeX do, and
photographs from the sample images scikit-image ships (a bench and test dependency). Each page
kind is named, so figures can be given per kind.
"""

from __future__ import annotations

import io
import math
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

SLIDE = (720.0, 405.0)  # 16:9 at 10 × 5.625 inches, the size most presentation programs export
PAPER = (612.0, 792.0)
DECK_KINDS = ("title", "text", "chart", "photo", "dark", "table", "photo-text", "section", "black", "diagram")

TEXT = ("we measure the effect of the intervention on held out data and find that the gain persists "
        "across seeds model sizes and evaluation suites although the variance grows with scale which "
        "suggests that the method interacts with optimisation in ways we do not yet understand")
WORDS = TEXT.split(" ")


@cache
def _fonts() -> tuple[str, str]:
    import reportlab

    folder = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont("Body", str(folder / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont("BodyBold", str(folder / "VeraBd.ttf")))
    return "Body", "BodyBold"


@cache
def _photo(name: str, size: tuple[int, int], quality: int = 85) -> bytes:
    import skimage

    image = Image.open(Path(skimage.__file__).parent / "data" / name).convert("RGB").resize(size, Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png")


def _sentence(rng: np.random.Generator, words: int) -> str:
    return " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), words)).capitalize()


def _slide(c: canvas.Canvas, kind: str, number: int, rng: np.random.Generator) -> None:
    body, bold = _fonts()
    w, h = SLIDE
    if kind == "title":
        c.setFillColorRGB(0.93, 0.95, 1.0)
        c.rect(0, 0, w, h, stroke=0, fill=1)
        c.setFillColorRGB(0.1, 0.12, 0.3)
        c.setFont(bold, 36)
        c.drawCentredString(w / 2, 230, "Sparse probes of early training")
        c.setFont(body, 18)
        c.drawCentredString(w / 2, 185, "Work in progress, not for circulation")
        c.drawCentredString(w / 2, 160, "Sofía Speaker · Some Lab")
    elif kind in ("text", "section"):
        c.setFillColorRGB(0.1, 0.1, 0.15)
        c.setFont(bold, 26 if kind == "text" else 40)
        if kind == "section":
            c.drawString(60, 200, f"{number // 5 + 1}. Results")
            c.setFillColorRGB(0.2, 0.4, 0.8)
            c.rect(60, 185, 200, 4, stroke=0, fill=1)
            return
        c.drawString(40, 345, f"What we found ({number})")
        c.setFont(body, 17)
        for line in range(7):
            c.drawString(55, 295 - 34 * line, "• " + _sentence(rng, 8))
    elif kind == "chart":
        c.setFont(bold, 22)
        c.drawString(40, 360, "Accuracy by model size")
        c.setStrokeColorRGB(0.2, 0.2, 0.2)
        c.line(70, 50, 680, 50)
        c.line(70, 50, 70, 330)
        c.setFont(body, 9)
        for i in range(6):
            c.drawString(40, 50 + i * 50, f"{i * 20}%")
        for series, colour in enumerate(((0.2, 0.4, 0.8), (0.9, 0.4, 0.1), (0.2, 0.7, 0.3))):
            c.setStrokeColorRGB(*colour)
            c.setLineWidth(2)
            path = c.beginPath()
            for i in range(40):
                x = 75 + i * 15
                y = 60 + 240 * (1 - math.exp(-i / (8 + 6 * series))) + rng.normal(0, 4)
                path.moveTo(x, y) if i == 0 else path.lineTo(x, y)
            c.drawPath(path, stroke=1, fill=0)
        c.setLineWidth(1)
    elif kind == "photo":
        c.drawImage(ImageReader(io.BytesIO(_photo(PHOTOS[number % len(PHOTOS)], (1280, 720)))), 0, 0, w, h)
    elif kind == "photo-text":
        c.setFont(bold, 24)
        c.drawString(40, 350, "Qualitative examples")
        c.drawImage(ImageReader(io.BytesIO(_photo(PHOTOS[(number + 2) % len(PHOTOS)], (640, 480)))), 40, 40, 360, 270)
        c.setFont(body, 15)
        for line in range(6):
            c.drawString(420, 290 - 30 * line, _sentence(rng, 4))
    elif kind in ("dark", "black") or kind.startswith("ground "):
        ground = (0.08, 0.1, 0.18) if kind == "dark" else (0.0, 0.0, 0.0) if kind == "black" else (
            (int(kind.split()[1]) / 255,) * 3)
        c.setFillColorRGB(*ground)
        c.rect(0, 0, w, h, stroke=0, fill=1)
        c.setFillColorRGB(0.95, 0.95, 0.95)
        c.setFont(bold, 28)
        c.drawString(40, 340, "Open questions")
        c.setFont(body, 17)
        for line in range(6):
            c.drawString(55, 290 - 36 * line, "– " + _sentence(rng, 7))
    elif kind == "table":
        c.setFont(bold, 22)
        c.drawString(40, 360, "Ablations")
        c.setFont(body, 12)
        for row in range(9):
            if row % 2 == 0:
                c.setFillColorRGB(0.92, 0.94, 0.98)
                c.rect(40, 300 - 28 * row - 8, 640, 28, stroke=0, fill=1)
            c.setFillColorRGB(0.1, 0.1, 0.1)
            cells = ["baseline" if row == 0 else f"variant {row}", *(f"{v:.1f}" for v in rng.uniform(40, 90, 5))]
            for col, cell in enumerate(cells):
                c.drawString(50 + col * 110, 300 - 28 * row, cell)
    elif kind == "diagram":
        c.setFont(bold, 22)
        c.drawString(40, 360, "Pipeline")
        c.setFont(body, 13)
        for i, label in enumerate(("data", "filter", "train", "probe", "report")):
            x = 50 + i * 130
            c.setFillColorRGB(0.85, 0.9, 1.0)
            c.roundRect(x, 170, 100, 60, 10, stroke=1, fill=1)
            c.setFillColorRGB(0.1, 0.1, 0.2)
            c.drawCentredString(x + 50, 195, label)
            if i < 4:
                c.line(x + 100, 200, x + 130, 200)


def deck(pages: int = 20, seed: int = 1) -> bytes:
    """A slide deck cycling through the page kinds (``deck_kinds`` says which page is which)."""
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=SLIDE)
    for number in range(pages):
        _slide(c, deck_kinds(pages)[number], number, rng)
        c.showPage()
    c.save()
    return out.getvalue()


def slide(kind: str, number: int = 0, seed: int = 1) -> bytes:
    """One slide of ``kind`` as page ``number`` of a deck would draw it (a photo slide's picture
    depends on the number: 2 is the cat)."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=SLIDE)
    _slide(c, kind, number, np.random.default_rng(seed))
    c.showPage()
    c.save()
    return out.getvalue()


def ground_slide(level: int, seed: int = 1) -> bytes:
    """One slide like the black one, on a flat grey ground of ``level`` (0–255) instead."""
    return slide(f"ground {int(level)}", 0, seed)


def deck_kinds(pages: int = 20) -> list[str]:
    return ["title"] + [DECK_KINDS[1 + i % (len(DECK_KINDS) - 1)] for i in range(pages - 1)]


def paper(pages: int = 30, seed: int = 2) -> bytes:
    """A paper: dense text in an embedded font, a few plots, a photo figure and tables."""
    body, bold = _fonts()
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=PAPER)
    w, h = PAPER
    for number in range(pages):
        y = h - 72
        if number == 0:
            c.setFont(bold, 16)
            c.drawCentredString(w / 2, y, "Sparse Probes of Early Training Dynamics")
            y -= 40
        figure = number % 5 == 2
        photo = number % 9 == 4
        c.setFont(body, 9.5)
        for column in (0, 1):
            x = 72 + column * 240
            yy = y
            if column == 1 and figure:
                c.setStrokeColorRGB(0.2, 0.2, 0.2)
                c.rect(x, yy - 160, 220, 150, stroke=1, fill=0)
                path = c.beginPath()
                for i in range(60):
                    px, py = x + 5 + i * 3.5, yy - 150 + 130 * (1 - math.exp(-i / 15)) + rng.normal(0, 2)
                    path.moveTo(px, py) if i == 0 else path.lineTo(px, py)
                c.setStrokeColorRGB(0.2, 0.4, 0.8)
                c.drawPath(path, stroke=1, fill=0)
                c.setStrokeColorRGB(0, 0, 0)
                yy -= 180
            if column == 0 and photo:
                c.drawImage(ImageReader(io.BytesIO(_photo(PHOTOS[number % len(PHOTOS)], (600, 450), 80))),
                            x, yy - 165, 220, 165)
                yy -= 185
            while yy > 90:
                c.drawString(x, yy, _sentence(rng, 7)[:52])
                yy -= 12
        c.setFont(body, 8)
        c.drawCentredString(w / 2, 40, str(number + 1))
        c.showPage()
    c.save()
    return out.getvalue()
