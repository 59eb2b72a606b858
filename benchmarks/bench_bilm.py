"""Inference speed of the biLM on the published ELMo configurations, random weights.

The workload AllenNLP's figures in BENCHMARKS.md were measured on: 256 sentences × 20 random
lowercase words of 3-10 letters, batch 32, eval mode, no grad. Prints one table row per
configuration with the median of several repeats (these machines are shared and noisy; compare
rows of one run, not across runs).

    python benchmarks/bench_bilm.py --threads 2 --repeats 5 --configs small
    python benchmarks/bench_bilm.py --model models/default --batch-size 16 32 64
    python benchmarks/bench_bilm.py --threads 1 --clock cpu --no-kernel --batch-size 1 32

With ``--model`` a sentencepiece bundle reads the words cut into its units, as the Embedder
does; tokens/s still counts words.

``--cache`` times the layer-0 cache instead (``Embedder.embed_tokens``, with and without it):
on random words (fresh sentences every pass, so the cache holds nothing useful: what it costs)
and on prose (the cache warmed on *Moby-Dick* chapters 1-8, then timed on chapter 9, which it
has not seen: what real text gets).  Use ``--threads 1 --clock cpu`` on a shared machine.

    python benchmarks/bench_bilm.py --cache --threads 1 --clock cpu --configs small original
    python benchmarks/bench_bilm.py --cache --threads 1 --clock cpu --model models/default

``--roofline`` says how far that is from what the arithmetic allows, for the first batch size:
the FLOPs a word costs, counted from the config (:class:`Costs`: layer 0 as the code computes
it, on the units it encodes), the GFLOP/s of the model's product shapes at 256 rows and at
the batch (plain ``torch.mm`` and the library's tiled products; the best is the ceiling), and
two bounds at the same batch (:func:`recurrent_bound`): the bare per-step products of the
recurrence (the recurrent product and the cell projection of each step of the four
layer-directions) and those with the input products (every product of the recurrent layers),
each what the Embedder could reach if it did nothing else, against its words per second on
random words (cache off) and on the prose of ``--cache`` (off and on).  The bounds run every
step with a full batch of rows, for the text's mean sentence length: optimistic for prose,
whose sentences (cut at ``--words``) vary in length, so that a batch's rows end at different
steps.

    python benchmarks/bench_bilm.py --roofline --threads 1 --clock cpu --repeats 3 \
        --sentences 64 --model models/default
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from elmo.config import LSTM_FAMILY, CharCNNConfig, ModelConfig, RecurrentConfig
from elmo.inference.embedder import DEFAULT_TOKEN_CACHE, Embedder
from elmo.io.bundle import load_model, load_tokenizer
from elmo.nn.bilm import BiLM
from elmo.nn.chars import MAX_CHARS, PADDING_CHAR_ID, batch_to_char_ids
from elmo.nn.tiles import addmm, addmm_, kept_copies, split, step_matmul, step_tiles, tiles_for
from elmo.tokenization import SentencePieceUnits, pre_tokenize

PROSE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "corpus"

FILTERS = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))
# Published bilm-tf configurations: name → (LSTM cells H, projection D, highway layers)
CONFIGS = {
    "small": (1024, 128, 1),  # 2x1024_128_2048cnn_1xhighway
    "medium": (2048, 256, 1),  # 2x2048_256_2048cnn_1xhighway
    "original": (4096, 512, 2),  # 2x4096_512_2048cnn_2xhighway
}


def build(name: str, cell_clip: float | None) -> BiLM:
    hidden, proj, highway = CONFIGS[name]
    config = ModelConfig(
        char_cnn=CharCNNConfig(embedding_dim=16, filters=FILTERS, n_highway=highway),
        recurrent=RecurrentConfig(
            hidden_size=hidden, projection_size=proj, cell_clip=cell_clip, proj_clip=cell_clip
        ),
    )
    return BiLM(config).eval()


def sentences(count: int, words: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [
        ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(words)]
        for _ in range(count)
    ]


def char_id_batches(
    data: list[list[str]], batch: int, units: SentencePieceUnits | None = None
) -> list[torch.Tensor]:
    """(B, T, 50) char ids of the sentences, ``batch`` at a time; with ``units`` the words are
    cut into the model's sentencepiece units first, as the Embedder does."""
    if units is None:
        return [batch_to_char_ids(data[i : i + batch]) for i in range(0, len(data), batch)]
    table = units.unit_char_ids()  # (V, 50)
    rows = [table[[i for word in units.encode_words(s) for i in word]] for s in data]
    return [pad_sequence(rows[i : i + batch], batch_first=True) for i in range(0, len(rows), batch)]


def tokens_per_second(
    model: BiLM,
    data: list[list[str]],
    batch: int,
    repeats: int,
    kernel: bool = False,
    units: SentencePieceUnits | None = None,
    clock: str = "wall",
) -> float:
    """Words per second.  ``kernel``: run PyTorch's fused RNN kernel, which the library uses
    only with gradients on a CPU (gradients stay off here: no parameter requires one).
    ``clock``: ``wall`` or ``cpu`` (this process's CPU time: steadier on a shared machine)."""
    batches = char_id_batches(data, batch, units)
    n_tokens = sum(len(s) for s in data)
    timer = time.perf_counter if clock == "wall" else time.process_time
    timings = []
    model.requires_grad_(False)
    with torch.enable_grad() if kernel else torch.inference_mode():
        model(batches[0])  # warm-up
        for _ in range(repeats):
            start = timer()
            for char_ids in batches:
                model(char_ids)
            timings.append(timer() - start)
    return n_tokens / statistics.median(timings)


def prose(path: Path, words: int) -> list[list[str]]:
    """The file's paragraphs split into words and punctuation, cut into sentences of at most
    ``words`` words (a stand-in for sentence splitting, which the fixture does not need)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tokens = [w.text for w in pre_tokenize(line)]
        out += [tokens[i : i + words] for i in range(0, len(tokens), words)]
    return [s for s in out if s]


def cache_rows(
    label: str,
    model: BiLM,
    units: SentencePieceUnits | None,
    args: argparse.Namespace,
) -> None:
    """Words per second through ``Embedder.embed_tokens``, the cache off and on, on random
    words and on prose; with the hit rate of the timed passes."""
    timer = time.perf_counter if args.clock == "wall" else time.process_time
    warm_text = prose(PROSE / "train.txt", args.words)
    timed_text = prose(PROSE / "valid.txt", args.words)
    for text in ("random words", "prose"):
        for size in (0, DEFAULT_TOKEN_CACHE):
            embedder = Embedder(model, args.batch_size[0], units=units, token_cache=size)
            embedder.embed_tokens(sentences(4, args.words, seed=99))  # first-call costs
            timings, hits, looked_up, words = [], 0, 0, 0
            for repeat in range(args.repeats):
                if embedder.token_cache is not None:
                    embedder.token_cache.clear()
                if text == "prose":
                    embedder.embed_tokens(warm_text)  # untimed: what a server has seen
                    data = timed_text
                else:
                    data = sentences(args.sentences, args.words, seed=1000 + repeat)
                cache = embedder.token_cache
                before = cache.stats() if cache is not None else None
                start = timer()
                embedder.embed_tokens(data)
                timings.append(timer() - start)
                words = sum(len(s) for s in data)
                if embedder.token_cache is not None and before is not None:
                    after = embedder.token_cache.stats()
                    hits += after.hits - before.hits
                    looked_up += after.hits + after.misses - before.hits - before.misses
            rate = f"{100 * hits / looked_up:.0f} %" if looked_up else "-"
            speed = words / statistics.median(timings)
            state = f"on ({size:,} units)" if size else "off"
            print(f"| {label} | {text} | {state} | {speed:,.0f} | {rate} |", flush=True)


# --- roofline: FLOPs per word, a measured GEMM ceiling, and the bound of the recurrent products

GATES = {"lstm": 4, "lstm_peephole": 4, "cifg": 3, "gru": 3, "elman": 1}
# Rows x steps of input products the step loop makes at once on a CPU (``step_loop``'s
# ``_CPU_INPUT_BLOCK_ROWS``): the bound reads its steps' pre-activations from such a block.
BLOCK_ROWS = 256


@dataclass(frozen=True)
class Costs:
    """FLOPs of one model's matrix products (2·M·K·N each), counted from its config.

    Layer 0 is per *encoded* unit (the token encoder sees each distinct unit of a batch once,
    and with the cache only the units it misses): ``window`` is one window start of the
    char-CNN as the library computes it, every filter zero-padded to the widest (``E·w_max``
    deep), times the window starts the batch's longest unit reaches (:func:`window_starts`).
    That counts what the code multiplies, not the textbook 50-slot convolution (which would
    make layer 0 look 4x costlier and its GFLOP/s flattering).  The recurrent terms are per
    row-step of one layer-direction: a unit of a sentence, ``<S>`` and ``</S>`` included;
    rows that only fill a tile are not counted.  Pointwise math (gates, highway mixing,
    max-pooling) is left out: it is not matrix work and no GEMM ceiling applies to it.
    """

    window: int  # char-CNN, one window start of one unit
    highway: int  # all highway layers, one unit
    projection: int  # F -> D, one unit
    input: int  # Din -> G, one row-step of one layer-direction
    recurrent: int  # state -> G
    cell_projection: int  # H -> D (0 without a projection)
    layer_directions: int

    @property
    def row_step(self) -> int:
        """Every recurrent product of one row-step, all layer-directions."""
        return self.layer_directions * (self.input + self.recurrent + self.cell_projection)

    @property
    def bound_row_step(self) -> int:
        """The products of the bound (per-step, inside the recurrence): recurrent and cell
        projection, all layer-directions."""
        return self.layer_directions * (self.recurrent + self.cell_projection)


def costs(config: ModelConfig) -> Costs:
    """The :class:`Costs` of ``config``.  LSTM family: the state is the D-wide projection;
    GRU and Elman: the H-wide state, the H -> D map (outside the recurrence) counted as the
    cell projection when D != H."""
    cnn, rec = config.char_cnn, config.recurrent
    f, d, h = cnn.n_filters, rec.projection_size, rec.hidden_size
    widest = max(width for width, _ in cnn.filters)
    gates = GATES[rec.cell] * h
    state = d if rec.cell in LSTM_FAMILY else h
    return Costs(
        window=2 * cnn.embedding_dim * widest * f,
        highway=cnn.n_highway * 2 * f * 2 * f,
        projection=2 * f * d,
        input=2 * d * gates,
        recurrent=2 * state * gates,
        cell_projection=2 * h * d if d != h else 0,
        layer_directions=2 * rec.num_layers,
    )


def longest_unit(char_ids: torch.Tensor) -> int:
    """The most slots a unit of ``char_ids (U, 50)`` uses, read as ``CharCNN.forward`` reads
    it."""
    used = ((char_ids != 0) & (char_ids != PADDING_CHAR_ID)).any(0)  # (50,)
    return int(used.nonzero().max()) + 1 if bool(used.any()) else 1


def window_starts(longest: int, widest: int) -> int:
    """The window starts the char-CNN computes for a call whose longest unit uses
    ``longest`` slots: that many, or all 50 when a window would run past them (as
    ``CharCNN.forward`` decides)."""
    return longest if longest + widest <= MAX_CHARS else MAX_CHARS


class Layer0Counter:
    """Counts the layer-0 FLOPs a model computes: installed as its token encoder's
    ``encode_units`` (an instance attribute, which the encoder and its cache call), it adds
    up each call's units and window starts and hands the call on, with the longest unit it
    has just read so that the char-CNN does not read it again."""

    def __init__(self, model: BiLM) -> None:
        self.encoder = model.token_encoder
        self.costs = costs(model.config)
        self.widest = max(width for width, _ in model.config.char_cnn.filters)
        self.units = 0
        self.flops = 0
        self.encode = self.encoder.encode_units
        self.encoder.encode_units = self  # type: ignore[method-assign]

    def __call__(self, char_ids: torch.Tensor, longest: int | None = None) -> torch.Tensor:
        if longest is None:
            longest = longest_unit(char_ids)
        starts = window_starts(longest, self.widest)
        n = char_ids.shape[0]
        c = self.costs
        self.units += n
        self.flops += n * (starts * c.window + c.highway + c.projection)
        return self.encode(char_ids, longest)

    def reset(self) -> None:
        self.units = self.flops = 0

    def remove(self) -> None:
        del self.encoder.encode_units


def timed_rate(
    fn: Callable[[], object], work: float, repeats: int, timer: Callable[[], float]
) -> float:
    """``work`` per second of ``fn()``: calls enough to take 0.1 s per measurement, the median
    of ``repeats`` measurements."""
    fn()  # warm-up: packing, first-call allocation
    calls = 1
    while True:
        start = timer()
        for _ in range(calls):
            fn()
        elapsed = timer() - start
        if elapsed >= 0.1:
            break
        calls = max(calls * 2, int(calls * 0.12 / max(elapsed, 1e-6)))
    times = [elapsed]
    for _ in range(repeats - 1):
        start = timer()
        for _ in range(calls):
            fn()
        times.append(timer() - start)
    return work * calls / statistics.median(times)


def gemm_shapes(model: BiLM) -> list[tuple[str, int, int, bool]]:
    """``(products, K, N, in the step)`` of the model's distinct weight shapes: one per
    ``(K, N)``, the names of the products that share it joined."""
    c, r = model.config.char_cnn, model.config.recurrent
    f, d, h = c.n_filters, r.projection_size, r.hidden_size
    state = d if r.cell in LSTM_FAMILY else h
    widest = max(width for width, _ in c.filters)
    named = [
        ("char-CNN windows", c.embedding_dim * widest, f, False),
        ("highway", f, 2 * f, False),
        ("projection", f, d, False),
        ("input product", d, GATES[r.cell] * h, False),
        ("recurrent product", state, GATES[r.cell] * h, True),
    ]
    if d != h:
        named.append(("cell projection", h, d, r.cell in LSTM_FAMILY))
    if c.n_highway == 0:
        named = [s for s in named if s[0] != "highway"]
    shapes: dict[tuple[int, int], tuple[str, int, int, bool]] = {}
    for name, k, n, step in named:
        if (k, n) in shapes:
            old = shapes[k, n]
            shapes[k, n] = (f"{old[0]}, {name}", k, n, old[3] or step)
        else:
            shapes[k, n] = (name, k, n, step)
    return list(shapes.values())


def gemm_table(
    label: str, model: BiLM, batch: int, repeats: int, timer: Callable[[], float]
) -> float:
    """GFLOP/s of each distinct product shape at 256 rows and at ``batch`` rows, plain
    (``torch.mm``) and as the library issues it (``tiles.addmm`` in the tiles of
    ``tiles_for``, or ``step_tiles`` for the products inside the recurrence); prints a table
    row per shape and row count and returns the best: the ceiling."""
    best = 0.0
    generator = torch.Generator().manual_seed(0)
    for name, k, n, step in gemm_shapes(model):
        w_t = torch.randn(k, n, generator=generator) / k**0.5
        bias = torch.randn(n, generator=generator)
        tiles = step_tiles(w_t) if step else tiles_for(w_t)
        for rows in sorted({256, batch}, reverse=True):
            x = torch.randn(rows, k, generator=generator)
            work = 2 * rows * k * n / 1e9
            with torch.inference_mode():
                plain = timed_rate(functools.partial(torch.mm, x, w_t), work, repeats, timer)
                tiled = timed_rate(
                    functools.partial(addmm, bias, x, w_t, tiles), work, repeats, timer
                )
            best = max(best, plain, tiled)
            cut = "plain" if tiles is None else f"{min(tiles)}-{max(tiles)}"
            print(
                f"| {label} | {name} | {k} × {n} | {rows} | {plain:.1f} | {tiled:.1f} ({cut}) |",
                flush=True,
            )
    return best


def recurrent_bound(
    model: BiLM,
    rows: int,
    steps: int,
    repeats: int,
    timer: Callable[[], float],
    inputs: bool = False,
) -> float:
    """Seconds a step of ``rows`` rows takes in the bare products of every layer-direction,
    as the step loop issues them: the recurrent product accumulated into a block of input
    products (``addmm_`` in ``step_tiles``, rows padded to whole tiles, or a plain ``addmm_``
    where the weight is too large for tiles) and the ``(rows, H) @ (H, D)`` projection
    (``step_matmul``); each layer-direction runs its ``steps`` steps in turn, as the library
    does.  No cell math, no copies: what the recurrence alone allows.  ``inputs``: also the
    input products, one ``tiles.addmm`` per block of 256 rows x steps (what all the products
    of the recurrent layers allow).  The median over ``repeats`` passes, divided by
    ``steps``."""
    stacks = (model.recurrent.forward_stack, model.recurrent.backward_stack)
    cells = [layer.cell for stack in stacks for layer in stack.stack()]
    generator = torch.Generator().manual_seed(0)
    work = []
    with torch.inference_mode(), kept_copies():
        for cell in cells:
            w_ih_t, w_hh_t, w_hr_t, _ = cell.loop_weights(exact=True)
            tiles = step_tiles(w_hh_t)
            padded = rows if tiles is None else sum(split(tiles, rows))
            span = max(1, BLOCK_ROWS // rows)
            x = torch.randn(span * padded, w_ih_t.shape[0], generator=generator)
            block = torch.randn(span, padded, w_hh_t.shape[1], generator=generator)
            h = torch.randn(padded, w_hh_t.shape[0], generator=generator) * 0.1
            out = None if w_hr_t is None else torch.rand(padded, w_hr_t.shape[0]) - 0.5
            bias = cell.input_bias().detach()
            work.append((w_ih_t, bias, x, w_hh_t, w_hr_t, tiles, span, block, h, out))

        def run() -> float:
            start = timer()
            for w_ih_t, bias, x, w_hh_t, w_hr_t, tiles, span, block, h, out in work:
                for t in range(steps):
                    if inputs and t % span == 0:
                        block = addmm(bias, x, w_ih_t).view(span, -1, w_ih_t.shape[1])
                    pre = block[t % span]
                    if tiles is None:
                        pre.addmm_(h, w_hh_t)
                    else:
                        addmm_(pre, h, w_hh_t, tiles)
                    if w_hr_t is not None and out is not None:
                        h = step_matmul(out, w_hr_t)
            return timer() - start

        run()  # warm-up
        return statistics.median(run() for _ in range(repeats)) / steps


def roofline_rows(
    label: str,
    model: BiLM,
    units: SentencePieceUnits | None,
    args: argparse.Namespace,
    ceiling: float,
) -> None:
    """Words per second through ``Embedder.embed_tokens`` on random words (cache off) and on
    prose (off, and on after the warm-up text as in ``--cache``), the FLOPs each computes per
    word, achieved GFLOP/s against ``ceiling``, and the bounds of the bare step products and
    of all the recurrent layers' products at the same batch for the same number of row-steps
    (every step a full batch of rows)."""
    timer = time.perf_counter if args.clock == "wall" else time.process_time
    batch = args.batch_size[0]
    c = costs(model.config)
    counter = Layer0Counter(model)
    step_times: dict[tuple[int, bool], float] = {}  # seconds a step, by steps, inputs
    warm_text = prose(PROSE / "train.txt", args.words)
    timed_text = prose(PROSE / "valid.txt", args.words)
    try:
        for text, size in (("random words", 0), ("prose", 0), ("prose", DEFAULT_TOKEN_CACHE)):
            embedder = Embedder(model, batch, units=units, token_cache=size)
            embedder.embed_tokens(sentences(4, args.words, seed=99))  # first-call costs
            timings, words, row_steps, flops, count = [], 0, 0, 0, 0
            for repeat in range(args.repeats):
                if embedder.token_cache is not None:
                    embedder.token_cache.clear()
                    embedder.embed_tokens(warm_text)  # untimed: what a server has seen
                if text == "prose":
                    data = timed_text
                else:
                    data = sentences(args.sentences, args.words, seed=1000 + repeat)
                counter.reset()
                start = timer()
                embedder.embed_tokens(data)
                timings.append(timer() - start)
                words += sum(len(s) for s in data)
                count += len(data)
                steps = sum(p.num_units + 2 for p in embedder.prepare(data))  # <S>, </S>
                row_steps += steps
                flops += counter.flops + steps * c.row_step
            speed = words / args.repeats / statistics.median(timings)
            per_word = flops / words
            achieved = per_word * speed / 1e9
            steps = max(1, round(row_steps / count))  # T: row-steps of a mean sentence
            bounds = []
            for inputs in (False, True):
                if (steps, inputs) not in step_times:
                    step_times[steps, inputs] = recurrent_bound(
                        model, batch, steps, args.repeats, timer, inputs
                    )
                bounds.append(words / (row_steps / batch * step_times[steps, inputs]))
            state = f"on ({size:,} units)" if size else "off"
            layer0 = (flops - row_steps * c.row_step) / words
            print(
                f"| {label} | {text} | {state} | {row_steps / words:.2f} | "
                f"{per_word / 1e6:.2f} ({layer0 / 1e6:.2f}) | {speed:,.0f} | {achieved:.1f} | "
                f"{ceiling:.1f} | {100 * achieved / ceiling:.0f} % | {bounds[0]:,.0f} | "
                f"{100 * speed / bounds[0]:.0f} % | {bounds[1]:,.0f} | "
                f"{100 * speed / bounds[1]:.0f} % |",
                flush=True,
            )
    finally:
        counter.remove()


def roofline(
    label: str, model: BiLM, units: SentencePieceUnits | None, args: argparse.Namespace
) -> None:
    """The ``--roofline`` mode for one model: its FLOPs, its GEMM shapes' speeds, the rows."""
    timer = time.perf_counter if args.clock == "wall" else time.process_time
    batch = args.batch_size[0]
    c = costs(model.config)
    print(f"\nFLOPs of {label} from its config (2·M·K·N per product):")
    print("| term | MFLOP |")
    print("| --- | ---: |")
    print(f"| char-CNN, one window start of one encoded unit | {c.window / 1e6:.3f} |")
    print(f"| highway layers, one encoded unit | {c.highway / 1e6:.3f} |")
    print(f"| projection, one encoded unit | {c.projection / 1e6:.3f} |")
    print(f"| input product, one row-step of a layer-direction | {c.input / 1e6:.3f} |")
    print(f"| recurrent product, same | {c.recurrent / 1e6:.3f} |")
    print(f"| cell projection, same | {c.cell_projection / 1e6:.3f} |")
    print(f"| all {c.layer_directions} layer-directions, one row-step | {c.row_step / 1e6:.3f} |")
    print(f"\nGEMM speed of {label}'s product shapes, GFLOP/s (median of {args.repeats}):")
    print("| model | products | K × N | rows | torch.mm | tiles.addmm (tile sizes) |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    ceiling = gemm_table(label, model, batch, args.repeats, timer)
    print(
        f"\n{label} through Embedder.embed_tokens, batch {batch}; units/word: row-steps per "
        "word (<S>, </S> included); MFLOP/word: all products (layer 0's as computed); "
        "ceiling: the best GFLOP/s above; bounds, for the same row-steps in full batches of "
        "sentences of the mean length: step products (the recurrent product and the cell "
        "projection of each step), LSTM products (those and the input products)"
    )
    print(
        "| model | text | layer-0 cache | units/word | MFLOP/word (layer 0) | words/s | GFLOP/s "
        "| ceiling GFLOP/s | of ceiling | step-products bound | of it | LSTM-products bound "
        "| of it |"
    )
    print(
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    roofline_rows(label, model, units, args, ceiling)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["small"], choices=sorted(CONFIGS))
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes; the median is shown")
    parser.add_argument("--sentences", type=int, default=256, help="number of sentences")
    parser.add_argument("--words", type=int, default=20, help="words per sentence")
    parser.add_argument(
        "--batch-size", type=int, nargs="+", default=[32], help="sentences per batch"
    )
    parser.add_argument("--model", help="a bundle (e.g. models/default) instead of --configs")
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall", help="wall time or process CPU time"
    )
    parser.add_argument(
        "--no-kernel", action="store_true", help="only the library's path, not PyTorch's kernel"
    )
    parser.add_argument(
        "--cache", action="store_true", help="the layer-0 cache off and on (see the docstring)"
    )
    parser.add_argument(
        "--roofline",
        action="store_true",
        help="FLOPs per word, GEMM ceiling, recurrent-product bound (see the docstring)",
    )
    args = parser.parse_args()
    kernels = (False,) if args.no_kernel else (False, True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = sentences(args.sentences, args.words, seed=0)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.sentences} sentences × "
        f"{args.words} words, median of {args.repeats}, {args.clock} clock"
    )
    if args.roofline:
        if args.model:
            model, units = load_model(args.model).eval(), load_tokenizer(args.model)
            roofline(args.model, model, units, args)
        for name in [] if args.model else args.configs:
            roofline(f"{name} (clipped, as published)", build(name, 3.0), None, args)
        return
    if args.cache:
        print(f"batch {args.batch_size[0]}; hit rate: distinct units of each forward pass")
        print("| model | text | layer-0 cache | words/s | hit rate |")
        print("| --- | --- | --- | ---: | ---: |")
        if args.model:
            model, units = load_model(args.model).eval(), load_tokenizer(args.model)
            cache_rows(args.model, model, units, args)
        for name in [] if args.model else args.configs:
            cache_rows(name, build(name, None), None, args)
        return
    print("| model | LSTM path | batch | tokens/s |")
    print("| --- | --- | ---: | ---: |")
    if args.model:
        model, units = load_model(args.model).eval(), load_tokenizer(args.model)
        for batch in args.batch_size:
            for kernel in kernels:
                path = "PyTorch's fused kernel" if kernel else "loop (the library's CPU path)"
                speed = tokens_per_second(
                    model, data, batch, args.repeats, kernel, units, args.clock
                )
                print(f"| {args.model} | {path} | {batch} | {speed:,.0f} |", flush=True)
        return
    for name in args.configs:
        for clip, kernel, path in (
            (3.0, False, "loop, clipped (as published)"),
            (None, False, "loop, no clipping (the library's CPU path)"),
            (None, True, "PyTorch's fused kernel, no clipping"),
        ):
            if kernel and args.no_kernel:
                continue
            model = build(name, clip)
            for batch in args.batch_size:
                speed = tokens_per_second(
                    model, data, batch, args.repeats, kernel, clock=args.clock
                )
                print(f"| {name} | {path} | {batch} | {speed:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
