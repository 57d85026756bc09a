"""Shared fixtures. Test servers live in tests/helpers/ so every area can reuse them."""

from __future__ import annotations

from tests.helpers import scripted_kind

# The scripted kind is a test double for the runner; it is registered only in tests.
scripted_kind.register()
