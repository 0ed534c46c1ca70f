"""A size-bounded, thread-safe LRU cache of encoded tiles.

Keys carry the data versions of the tables a tile shows (see :mod:`gisgrid.tiles.layers`), so a
write makes the old entries unreachable; they age out of the LRU. Values are the bytes as
served (gzip-compressed MVT, or PNG) with their ETag.

Examples
--------
>>> c = TileCache(max_bytes=10)
>>> c.put(("a",), CachedTile(b"12345", '"e1"'))
>>> c.put(("b",), CachedTile(b"123456", '"e2"'))
>>> c.get(("a",)) is None, c.get(("b",)).body, c.size
(True, b'123456', 6)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedTile:
    body: bytes
    etag: str


class TileCache:
    """Least recently used entries go first once the bodies exceed ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, CachedTile] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> CachedTile | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return hit

    def put(self, key: Hashable, tile: CachedTile) -> None:
        if len(tile.body) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= len(old.body)
            self._items[key] = tile
            self.size += len(tile.body)
            while self.size > self.max_bytes:
                _, gone = self._items.popitem(last=False)
                self.size -= len(gone.body)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.size = 0

    def __len__(self) -> int:
        return len(self._items)
