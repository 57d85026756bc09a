"""Splitting a suite into N stable shards by check name.

The split depends only on the name, so every shard of every container agrees on
it without talking to the others, and a check stays in its shard from day to day.
"""

from __future__ import annotations

import hashlib


def shard_of(name: str, count: int) -> int:
    """The 1-based shard a check belongs to among `count`."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def in_shard(name: str, index: int, count: int) -> bool:
    return shard_of(name, count) == index
