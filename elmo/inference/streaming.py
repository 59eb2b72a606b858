"""Continuous batching on a CPU: sentences join and leave a running batch every few time steps.

A server whose clients each send one sentence and wait for the answer never has many sentences
queued: while one batch runs, the clients it will answer are idle, and those it answered earlier
are still sending their next requests, so concurrent clients split into cohorts of about half
their number.  On a CPU every recurrent step streams the layer's weights from memory whatever
the number of rows, so small batches cost more per sentence (BENCHMARKS.md: the default model
runs 16-sentence batches at ~0.7 of its speed at 64).  Here a sentence joins the rows already
running at the next block boundary instead of waiting for a whole batch to end.

Time runs in blocks of a few steps: in each block every layer of each direction runs those steps
for every row (:meth:`elmo.nn.cells.Cell.loop`, what a layer runs on a CPU without gradients;
a block of few rows steps a layer's two directions together as :class:`elmo.Embedder`'s small
batches do, :func:`elmo.nn.step_loop.run_pair`), carrying its states to the next block.
Between blocks, finished sentences leave and new ones join.  The loop computes each row the
same way in any batch (:mod:`elmo.nn.tiles`), and a state carried across blocks is the state a
whole-sentence run reaches, so a sentence's vectors are bit-identical to
:class:`elmo.Embedder`'s whatever else runs beside it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

from elmo.errors import InvalidInputError
from elmo.nn.bilm import BiLM
from elmo.nn.cells import State
from elmo.nn.chars import BOS_CHAR_IDS, EOS_CHAR_IDS
from elmo.nn.recurrent import Ran, RecurrentLayer
from elmo.nn.step_loop import can_pair, pair_weights

__all__ = ["StreamingBiLM"]

_BOS = np.array([BOS_CHAR_IDS], dtype=np.int16)  # (1, 50)
_EOS = np.array([EOS_CHAR_IDS], dtype=np.int16)


@dataclass(eq=False)
class _Row:
    key: Hashable
    length: int  # units with the boundaries
    offset: int = 0  # of its first unit in the arena
    done: int = 0  # steps run
    group: Hashable = None  # rows of one group (a request) share its part of a block


class StreamingBiLM:
    """Runs a biLM over sentences that arrive at any time, a block of time steps at a time.

    :meth:`add` sentences (char ids ``(n, 50)`` of their units, without boundaries); each
    :meth:`advance` runs one block of steps for every running sentence and returns those that
    finished, as ``(key, [L, n, 2D] float32)`` like :meth:`elmo.Embedder.embed_prepared`.  The
    block has ``block_rows // rows`` steps (at least ``min_block_steps``): the input products
    of a block stay in cache, as in the step loop.  CPU, evaluation mode, no gradients.

    ``shared_rows``: while a group (a server's request) that needs at most its fair share of
    ``shared_rows`` runs beside larger ones, a block advances at most this many rows, each
    group getting at least one and the rest shared max-min fairly; rows left out keep their
    state and go on in a later block.  A step's time grows with its rows, so a request of one
    sentence beside one of hundreds is slowed by the cost of ``shared_rows`` rows instead of
    all of them.  When every group needs more than its share (several large requests), every
    row advances: no one waits for the others, and the batch runs at full width.  None: every
    row advances in every block.

    The engine keeps what it derives from the weights (row-major copies of the recurrent
    matrices, the vector of every unit it has seen): after changing the model's weights, make a
    new engine.
    """

    def __init__(
        self,
        model: BiLM,
        block_rows: int = 256,
        min_block_steps: int = 4,
        max_units: int = 1 << 16,
        shared_rows: int | None = None,
    ) -> None:
        if shared_rows is not None and shared_rows < 1:
            raise ValueError(f"shared_rows must be at least 1, got {shared_rows}")
        if next(model.parameters()).device.type != "cpu":
            raise ValueError("streaming runs on the CPU; on a GPU run batches (elmo.Embedder)")
        if model.training or model.stateful:
            raise ValueError("streaming needs a model in eval mode and not stateful")
        self.model = model
        self.block_rows = block_rows
        self.min_block_steps = min_block_steps
        self.max_units = max_units
        self.shared_rows = shared_rows
        self._unit_index: dict[bytes, int] = {}  # a unit's char ids → its row in the table
        self.unit_hits = 0  # distinct units of each added sentence found in the table
        self.unit_misses = 0  # and those encoded then (a server's metric)
        self._unit_table = torch.zeros(0, model.config.recurrent.projection_size)  # (U, D)
        self.num_layers = len(model.recurrent.forward_stack.stack())
        self.dim = model.config.recurrent.projection_size
        self._stacks = (model.recurrent.forward_stack, model.recurrent.backward_stack)
        # row-major copies, made once (a block runs only a few steps), for the path its steps
        # take: the batch-invariant one on a CPU (the step loop remakes them otherwise)
        exact = next(model.parameters()).is_cpu
        with torch.no_grad():
            self._weights = [
                [la.cell.loop_weights(exact=exact) for la in st.stack()] for st in self._stacks
            ]
            # and where a layer's two directions can step together (blocks of few rows, where
            # BiRecurrent.pairs says so at the time: it checks the threads set then), with the
            # same input matrices
            layers = model.recurrent.layer_pairs()
            like = torch.zeros(1, self.dim)
            self._pairs = (
                [
                    pair_weights((f.cell, b.cell))._replace(
                        input=(self._weights[0][k].input, self._weights[1][k].input)
                    )
                    for k, (f, b) in enumerate(layers)
                ]
                if exact and all(can_pair((f.cell, b.cell), like) for f, b in layers)
                else None
            )
        self._rows: list[_Row] = []
        self._joining: list[_Row] = []  # added since the last block
        self._states: list[list[State]] = [[], []]  # [direction][layer], (R, ...) each
        # The arena: token vectors and layer outputs of the running sentences, a row per unit;
        # row ``capacity`` is a dump for the padded steps of a block.
        self._capacity = 0
        self._used = 0
        self._tokens = torch.zeros(1, self.dim)
        self._outputs = [[torch.zeros(1, self.dim) for _ in range(self.num_layers)] for _ in "fb"]

    def __len__(self) -> int:
        """Sentences running or about to join."""
        return len(self.keys())

    def keys(self) -> list[Hashable]:
        """Keys of the sentences running or about to join."""
        return [row.key for row in self._rows + self._joining]

    @torch.no_grad()
    def add(
        self,
        sentences: Sequence[tuple[Hashable, torch.Tensor]],
        groups: Sequence[Hashable] | None = None,
    ) -> None:
        """Start sentences, ``(key, char ids (n >= 1, 50))`` each, at the next block;
        ``groups``: each one's group (see ``shared_rows``; None: all in one)."""
        if not sentences:
            return
        if any(ids.ndim != 2 or ids.shape[0] < 1 for _, ids in sentences):
            raise InvalidInputError("each sentence needs char ids of shape (n >= 1, 50)")
        if groups is not None and len(groups) != len(sentences):
            raise ValueError(f"{len(groups)} groups for {len(sentences)} sentences")
        vectors = [self._token_vectors(ids) for _, ids in sentences]  # (n + 2, D) each
        self._reserve(sum(len(v) for v in vectors))
        for i, ((key, _), tokens) in enumerate(zip(sentences, vectors, strict=True)):
            length = len(tokens)
            self._tokens[self._used : self._used + length] = tokens
            group = None if groups is None else groups[i]
            self._joining.append(_Row(key, length, offset=self._used, group=group))
            self._used += length

    def drop(self, keys: Sequence[Hashable]) -> None:
        """Stop running these sentences (unknown keys are ignored): a server's request that
        timed out or whose client left must not go on taking the model's time."""
        gone = set(keys)
        self._joining = [row for row in self._joining if row.key not in gone]
        dropped = {id(row) for row in self._rows if row.key in gone}
        if dropped:
            self._remove(dropped)
        elif not self._rows and not self._joining:
            self._used = 0

    @torch.no_grad()
    def remember(self, char_ids: torch.Tensor) -> None:
        """Encode units ahead, ``(U, 50)`` char ids (a sentencepiece vocabulary, say), so that
        sentences made of them join without running the token encoder."""
        chars = char_ids.numpy().astype(np.int16)
        for start in range(0, len(chars), 4096):
            self._unit_rows(chars[start : start + 4096])

    def _token_vectors(self, char_ids: torch.Tensor) -> torch.Tensor:
        """Token vectors of a sentence's units, boundaries added, ``(n + 2, D)``."""
        chars = np.concatenate([_BOS, char_ids.numpy().astype(np.int16), _EOS])  # (n + 2, 50)
        rows = self._unit_rows(chars, count=True)  # may replace the table
        return self._unit_table.index_select(0, torch.from_numpy(rows))

    def _unit_rows(self, chars: np.ndarray, count: bool = False) -> np.ndarray:
        """Rows of the unit table for units ``(n, 50)`` (int16).

        A token vector depends only on its unit's characters, so each distinct unit is encoded
        once and kept: a sentence then joins without running the token encoder (whose fixed
        cost per call is milliseconds).  New units are encoded together; the table is emptied
        when it reaches ``max_units``.
        """
        # each row's bytes, made in one call (a row at a time took half of joining's time)
        chars = np.ascontiguousarray(chars)
        as_bytes = chars.view(np.dtype((np.void, chars.shape[1] * chars.itemsize))).ravel()
        keys = cast("list[bytes]", as_bytes.tolist())  # one bytes object a row
        new = {key: i for i, key in enumerate(keys) if key not in self._unit_index}
        if len(self._unit_index) + len(new) > self.max_units:
            self._unit_index, self._unit_table = {}, self._unit_table[:0]
            new = dict(zip(keys, range(len(keys)), strict=True))
        if count:  # a joining sentence's distinct units (not remember's) as hits and misses
            self.unit_misses += len(new)
            self.unit_hits += len(set(keys)) - len(new)
        if new:
            rows = torch.from_numpy(chars[list(new.values())]).long()  # (m, 50)
            vectors = self.model.token_encoder.encode_units(rows)  # (m, D)
            first = len(self._unit_table)
            self._unit_table = torch.cat([self._unit_table, vectors])
            self._unit_index.update((key, first + j) for j, key in enumerate(new))
        index = self._unit_index
        return np.fromiter((index[key] for key in keys), dtype=np.int64, count=len(keys))

    @torch.no_grad()
    def advance(self) -> list[tuple[Hashable, np.ndarray]]:
        """One block of steps for every running sentence; returns those that finished."""
        if self._joining:  # placed once per block, however many calls to add came before
            self._place(self._joining)
            self._joining = []
        if not self._rows:
            return []
        chosen = self._advancing()  # indices into the rows, in their order
        rows = [self._rows[i] for i in chosen]
        span = max(self.min_block_steps, self.block_rows // len(rows))
        steps = [min(span, row.length - row.done) for row in rows]
        subset = None if len(rows) == len(self._rows) else torch.tensor(chosen)
        self._run(self._block_indices(rows, max(steps)), torch.tensor(steps), subset)
        finished = []
        for row, count in zip(rows, steps, strict=True):
            row.done += count
            if row.done == row.length:
                finished.append(row)
        results = [(row.key, self._result(row)) for row in finished]
        if finished:
            self._remove({id(row) for row in finished})
        return results

    def _advancing(self) -> list[int]:
        """The rows that run this block: all of them, or with ``shared_rows`` while a group of
        at most its fair share (``shared_rows`` over the groups) runs beside larger ones, each
        group's share (max-min fair, at least one), its rows with the most steps done first
        (finishing what is begun frees its memory and answers its request)."""
        rows = self._rows
        everything = list(range(len(rows)))
        if self.shared_rows is None or len(rows) <= self.shared_rows:
            return everything
        members: dict[Hashable, list[int]] = {}
        for i, row in enumerate(rows):
            members.setdefault(row.group, []).append(i)
        fair = max(1, self.shared_rows // len(members))
        if len(members) < 2 or min(map(len, members.values())) > fair:
            return everything  # no request small enough to wait for the others: throughput
        chosen: list[int] = []
        budget, left = self.shared_rows, len(members)
        for group in sorted(members.values(), key=len):  # smallest demand first
            take = min(len(group), max(1, budget // left))
            chosen += sorted(group, key=lambda i: (-rows[i].done, i))[:take]
            budget, left = budget - take, left - 1
        return sorted(chosen)

    def _run(
        self,
        indices: tuple[torch.Tensor, torch.Tensor],
        lengths: torch.Tensor,
        subset: torch.Tensor | None = None,
    ) -> None:
        """A block of every layer through the step loop, rows padded to the block's span;
        ``subset``: the running rows that take part (None: all), the others keep their state."""
        states = self._states
        if subset is not None:
            states = [[tuple(s[subset] for s in state) for state in d] for d in states]
        xs = (self._tokens[indices[0]], self._tokens[indices[1]])  # (R, S, D) each
        if self._pairs is not None and self.model.recurrent.pairs(xs[0]):
            outputs, finals = self.model.recurrent.run_pair(
                xs, lengths, (states[0], states[1]), self._pairs
            )
        else:
            ran = [self._run_direction(d, xs[d], lengths, states[d]) for d in range(2)]
            outputs, finals = (ran[0][0], ran[1][0]), (ran[0][1], ran[1][1])
        for d in range(2):
            for k, out in enumerate(outputs[d]):
                self._outputs[d][k][indices[d]] = out
            if subset is None:
                self._states[d] = finals[d]
            else:
                for whole_state, part_state in zip(self._states[d], finals[d], strict=True):
                    for whole, part in zip(whole_state, part_state, strict=True):
                        whole[subset] = part

    def _run_direction(
        self, d: int, x: torch.Tensor, lengths: torch.Tensor, states: list[State]
    ) -> tuple[list[torch.Tensor], list[State]]:
        """Direction ``d``'s stack over a block's ``x`` (R, S, D), from ``states`` per layer."""
        weights = self._weights[d]

        def run_layer(k: int, layer: RecurrentLayer, x: torch.Tensor, state: State) -> Ran:
            # the step loop, as on a CPU without gradients, with the weights made once
            return layer(x, lengths, state, weights=weights[k])

        return self._stacks[d].run(x, states, run_layer)

    def _block_indices(self, rows: list[_Row], span: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(R, span)`` each, forward and backward: the arena row of each row's next ``span``
        steps (counted from the sentence's end backward), the dump where its sentence ended."""
        offset = torch.tensor([row.offset for row in rows])[:, None]  # (R, 1)
        length = torch.tensor([row.length for row in rows])[:, None]
        step = torch.tensor([row.done for row in rows])[:, None] + torch.arange(span)  # (R, S)
        inside = step < length
        forward = torch.where(inside, offset + step, self._capacity)
        backward = torch.where(inside, offset + length - 1 - step, self._capacity)
        return forward, backward

    def _result(self, row: _Row) -> np.ndarray:
        """``[L, n, 2D]`` of a finished row, its boundaries left out."""
        units = slice(row.offset + 1, row.offset + row.length - 1)
        tokens = self._tokens[units]
        layers = [torch.cat([tokens, tokens], dim=-1)]
        layers += [
            torch.cat([self._outputs[0][k][units], self._outputs[1][k][units]], dim=-1)
            for k in range(self.num_layers)
        ]
        return torch.stack(layers).numpy()  # a new tensor: nothing else holds its memory

    def _place(self, joining: list[_Row]) -> None:
        """Rows with zero states, placed so that the rows stay sorted by the steps they have
        left (most first): the step loop then needs no sorting of its own."""
        rows = self._rows + joining
        order = sorted(range(len(rows)), key=lambda i: rows[i].done - rows[i].length)
        self._rows = [rows[i] for i in order]
        index = torch.tensor(order)
        for d, stack in enumerate(self._stacks):
            for k, layer in enumerate(stack.stack()):
                zeros = layer.cell.initial_state(len(joining), self._tokens)
                if len(self._states[d]) <= k:
                    self._states[d].append(zeros)
                    continue
                self._states[d][k] = tuple(
                    torch.cat([s, z])[index] for s, z in zip(self._states[d][k], zeros, strict=True)
                )

    def _remove(self, drop: set[int]) -> None:
        keep = [i for i, row in enumerate(self._rows) if id(row) not in drop]
        self._rows = [self._rows[i] for i in keep]
        if not self._rows:
            self._states = [[], []]
            if not self._joining:
                self._used = 0  # the arena is free again
            return
        index = torch.tensor(keep)
        self._states = [[tuple(s[index] for s in state) for state in d] for d in self._states]

    def _reserve(self, units: int) -> None:
        """Room for ``units`` more arena rows: move the running sentences to the front, and
        grow the arena (doubling) when they and the newcomers would fill more than half."""
        if self._used + units <= self._capacity:
            return
        live = self._rows + self._joining
        needed = sum(row.length for row in live) + units
        capacity = max(self._capacity, 1024)
        while capacity < 2 * needed:
            capacity *= 2
        tokens = self._tokens.new_zeros(capacity + 1, self.dim)
        outputs = [[tokens.new_zeros(capacity + 1, self.dim) for _ in d] for d in self._outputs]
        used = 0
        for row in live:
            old, new = slice(row.offset, row.offset + row.length), slice(used, used + row.length)
            tokens[new] = self._tokens[old]
            for d in range(2):
                for k in range(self.num_layers):
                    outputs[d][k][new] = self._outputs[d][k][old]
            row.offset = used
            used += row.length
        self._tokens, self._outputs, self._capacity, self._used = tokens, outputs, capacity, used
