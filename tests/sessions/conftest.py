"""A published programme: rooms, slots, accepted talks of every tier placed and released, and its people."""

from __future__ import annotations

import pytest

from tests.helpers import Programme


@pytest.fixture
def programme(ctx) -> Programme:
    return Programme()

