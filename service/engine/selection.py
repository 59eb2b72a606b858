"""Which waiting sentences go to the engine next: the scheduler's two policies.

Both read the waiting sentences in fair order (:func:`service.engine.jobs.fair_order`) and
take nothing themselves: the scheduler removes what they choose.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.engine.jobs import Queued

__all__ = ["first_that_fit", "nearest_in_length"]


def first_that_fit(
    pending: Sequence[Queued],
    rows: int,
    units: int,
    share: tuple[int, int],
    running: bool,
    first_only: bool = False,
) -> list[Queued]:
    """Continuous batching: the first waiting sentences, in fair order, that fit beside those
    in flight, within their request's ``share`` (rows, units) and the ``rows`` and ``units``
    left in the running batch.  A request with nothing running always fits its share; a batch
    with nothing ``running`` takes at least one sentence.  ``first_only``: stop at the first
    (does anything fit?).  A running batch has no padding, so lengths need no grouping."""
    most_rows, most_units = share
    held: dict[int, tuple[int, int]] = {}  # request → its rows and units with these
    taken: list[Queued] = []
    for item in pending:
        if rows <= 0:
            break
        job = item.job
        held_rows, held_units = held.get(id(job), (job.flight_rows, job.flight_units))
        fits_share = held_rows == 0 or (
            held_rows < most_rows and held_units + item.units <= most_units
        )
        if not fits_share or (item.units > units and (taken or running)):
            continue
        taken.append(item)
        if first_only:
            break
        held[id(job)] = (held_rows + 1, held_units + item.units)
        rows, units = rows - 1, units - item.units
    return taken


def nearest_in_length(pending: Sequence[Queued], most_rows: int, budget: int) -> list[Queued]:
    """Whole batches: the first waiting sentence (in fair order) and its nearest neighbours
    in length, at most ``most_rows`` of them with rows × longest within ``budget`` units.

    Anchoring on the first sentence bounds every sentence's wait; growing the batch towards
    whichever neighbour adds the least padding keeps rows of similar length.
    """
    anchor = pending[0]
    ordered = sorted(pending, key=lambda item: (item.units, item.seq))
    lo = hi = next(i for i, item in enumerate(ordered) if item is anchor)
    longest = max(anchor.units, 1)
    while hi - lo + 1 < most_rows:
        rows = hi - lo + 1
        options = []
        if lo > 0 and longest * (rows + 1) <= budget:
            left = ordered[lo - 1]
            options.append((longest - left.units, left.seq, -1))
        if hi + 1 < len(ordered):
            right = ordered[hi + 1]
            if max(right.units, 1) * (rows + 1) <= budget:
                options.append(((right.units - longest) * rows, right.seq, 1))
        if not options:
            break
        _, _, side = min(options)
        if side < 0:
            lo -= 1
        else:
            hi += 1
            longest = max(longest, ordered[hi].units)
    return ordered[lo : hi + 1]
