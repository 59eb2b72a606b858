"""A bounded cache of layer-0 vectors across calls, keyed by a unit's characters.

Layer 0 (char-CNN, highway layers, projection) depends only on the unit's characters, and it is
most of a small model's arithmetic.  Real text repeats its words (Zipf: a few hundred types
cover half the tokens of prose), so most of that work in a call was already done by an earlier
one.  The token encoder computes every unit the same way whatever else is in its batch
(:mod:`elmo.nn.tiles`), so a vector read from here has the bits a recomputation would give:
the cache changes speed, never results.

Thread-safe: one cache may serve the threads of a server.  Units are looked up and stored under
a lock; the encoding of the units not found runs outside it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

__all__ = ["CacheStats", "TokenCache"]


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    units: int  # held now
    max_units: int

    @property
    def hit_rate(self) -> float:
        looked_up = self.hits + self.misses
        return self.hits / looked_up if looked_up else 0.0


class TokenCache:
    """The last ``max_units`` distinct units' vectors, least recently used evicted first.

    Memory: ``max_units`` rows of D floats (a table allocated as it fills) plus a key of about
    100 bytes a unit.  The vectors are those of the weights seen when they were computed: an
    in-place change of the token encoder's parameters empties the cache on the next call (one
    made through ``.data`` is not seen; call :meth:`clear` after it).
    """

    def __init__(self, max_units: int = 32_768) -> None:
        if max_units < 1:
            raise ValueError(f"max_units must be at least 1, got {max_units}")
        self.max_units = max_units
        self._slots: OrderedDict[bytes, int] = OrderedDict()  # key → row of the table, LRU first
        self._table: torch.Tensor | None = None  # (rows, D), grown by doubling to max_units
        self._versions: tuple[int, ...] | None = None  # of the weights the rows came from
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def __len__(self) -> int:
        return len(self._slots)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._slots), self.max_units)

    def clear(self) -> None:
        """Forget every vector (the counters stay)."""
        with self._lock:
            self._slots.clear()
            self._table = None

    def encode(
        self,
        units: torch.Tensor,
        encoder: Callable[[torch.Tensor], torch.Tensor],
        versions: tuple[int, ...] = (),
    ) -> torch.Tensor:
        """``(U, W)`` char ids of distinct units → ``(U, D)`` vectors: the cached ones read
        back, the rest encoded together by ``encoder`` and kept.  ``versions``: the weights'
        version counters; when they differ from those of the cached rows, the rows are stale
        and dropped."""
        keys = _keys(units)
        count = len(keys)
        with self._lock:
            if versions != self._versions:
                self._slots.clear()
                self._table = None
                self._versions = versions
            hit_positions, hit_slots, missing = [], [], []
            for position, key in enumerate(keys):
                slot = self._slots.get(key)
                if slot is None:
                    missing.append(position)
                else:
                    self._slots.move_to_end(key)
                    hit_positions.append(position)
                    hit_slots.append(slot)
            self._hits += len(hit_positions)
            self._misses += len(missing)
            out: torch.Tensor | None = None
            if hit_positions:  # read under the lock: another thread may reuse a slot after it
                table = cast(torch.Tensor, self._table)
                # made in the caller's mode: the table is an inference tensor (see _store)
                out = torch.empty(count, table.shape[1], dtype=table.dtype, device=table.device)
                where = torch.tensor(hit_positions, device=table.device)
                out[where] = table.index_select(0, torch.tensor(hit_slots, device=table.device))
        if not missing:
            return cast(torch.Tensor, out)
        where = torch.tensor(missing, device=units.device)
        fresh = encoder(units.index_select(0, where))  # (M, D)
        if out is None:
            out = fresh.new_empty(count, fresh.shape[1])
        out[where.to(out.device)] = fresh
        self._store([keys[i] for i in missing], fresh, versions)
        return out

    def _store(self, keys: list[bytes], vectors: torch.Tensor, versions: tuple[int, ...]) -> None:
        """Keep ``vectors`` ``(M, D)`` under ``keys``; the least recently used rows make room.

        The table is made and written in inference mode whatever the caller's mode, so that a
        table first filled inside ``torch.inference_mode`` can be written outside it too.
        """
        with self._lock, torch.inference_mode():
            if versions != self._versions:  # the weights changed while these were computed
                return
            if self._table is None or self._table.dtype != vectors.dtype:
                self._slots.clear()
                rows = min(self.max_units, max(1024, len(keys)))
                self._table = vectors.new_empty(rows, vectors.shape[1])
            slots: list[int] = []
            rows_kept: list[int] = []
            for row, key in enumerate(keys):
                if key in self._slots:  # another thread stored it meanwhile
                    continue
                if len(self._slots) < self.max_units:
                    slot = len(self._slots)
                else:
                    _, slot = self._slots.popitem(last=False)
                self._slots[key] = slot
                slots.append(slot)
                rows_kept.append(row)
            if not slots:
                return
            needed = max(slots) + 1
            if needed > len(self._table):
                grown = min(self.max_units, max(needed, 2 * len(self._table)))
                table = self._table.new_empty(grown, self._table.shape[1])
                table[: len(self._table)] = self._table
                self._table = table
            device = self._table.device
            self._table[torch.tensor(slots, device=device)] = vectors[
                torch.tensor(rows_kept, device=vectors.device)
            ].to(device)


def _keys(units: torch.Tensor) -> list[bytes]:
    """Each row's char ids as bytes (ids fit in 16 bits), made in one numpy call."""
    host = np.ascontiguousarray(units.detach().cpu().numpy().astype(np.int16))  # (U, W)
    rows = host.view(np.dtype((np.void, host.shape[1] * host.itemsize))).ravel()
    return cast("list[bytes]", rows.tolist())
