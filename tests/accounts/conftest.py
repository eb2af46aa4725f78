from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_cache(isolated_cache: None) -> None:
    pass
