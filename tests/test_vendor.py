"""The browser libraries served from static/vendor/ are the versions package.json pins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.dbfree  # nothing here touches the database: CI runs it once

ROOT = Path(__file__).resolve().parent.parent
PDFJS = ROOT / "static" / "vendor" / "pdfjs"


def test_vendored_pdfjs_is_the_pinned_version():
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["pdfjs-dist"]
    assert (PDFJS / "VERSION").read_text().strip() == pinned
    for name in ("pdf.min.mjs", "pdf.worker.min.mjs", "LICENSE"):
        assert (PDFJS / name).stat().st_size > 0, name
    # pdf.js refuses a worker of another version than its own: both carry the pinned one.
    for name in ("pdf.min.mjs", "pdf.worker.min.mjs"):
        assert f'"{pinned}"' in (PDFJS / name).read_text(encoding="utf-8"), name


def test_vendored_pdfjs_matches_node_modules_when_installed():
    installed = ROOT / "node_modules" / "pdfjs-dist"
    if not (installed / "package.json").exists():
        pytest.skip("pdfjs-dist is not in node_modules (npm ci installs it)")
    assert json.loads((installed / "package.json").read_text())["version"] == (PDFJS / "VERSION").read_text().strip()
    for name in ("pdf.min.mjs", "pdf.worker.min.mjs"):
        assert (installed / "build" / name).read_bytes() == (PDFJS / name).read_bytes(), name
