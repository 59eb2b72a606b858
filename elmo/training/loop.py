"""Training a biLM on any corpus: the loop, evaluation, checkpoints and the final bundle.

Runs alone or under ``torchrun`` (PyTorch DDP: each rank takes its own batches of every step,
gradients are all-reduced, only rank 0 writes).  A step is ``world × grad_accum`` batches of the
epoch plan (:func:`elmo.training.data.plan_epoch`); the loss of each batch is its summed NLL over
the number of predictions of the whole step, so a step's gradient does not depend on how its batches
are spread over ranks and accumulation.  The loop keeps losses on the device and reads them back
only every ``log_every`` steps (no host sync per step on a GPU).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import distributed as dist
from tqdm import tqdm

from elmo.config import to_dict
from elmo.errors import ConfigError
from elmo.io.bundle import save_bundle
from elmo.nn.bilm import BiLM
from elmo.training.checkpoint import (
    TrainingState,
    checkpoint_config,
    latest_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
)
from elmo.training.config import TrainConfig
from elmo.training.curves import CURVE_FILE, write_training_curve
from elmo.training.data import EncodedCorpus, make_batch, plan_epoch
from elmo.training.model_card import model_card
from elmo.training.objective import LanguageModelObjective
from elmo.training.optim import build_optimizer, learning_rate
from elmo.training.prepare import TrainingData, prepare_data
from elmo.training.resume import check_resumable, drop_metrics_after, earlier_record, warm_start
from elmo.training.step import StepSettings, autocast, run_step

__all__ = ["TrainResult", "train"]


@dataclass(frozen=True)
class TrainResult:
    bundle: Path
    state: TrainingState
    valid_ppl_forward: float
    valid_ppl_backward: float


@dataclass(frozen=True)
class _Dist:
    rank: int
    world: int
    device: torch.device
    created_group: bool = False  # this run made the process group, and so ends it

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(config: TrainConfig) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = config.run.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise ConfigError("run.device is cuda but no CUDA device is available")
    device = (
        torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if cuda
        else torch.device("cpu")
    )
    if cuda:
        torch.cuda.set_device(device)
    created = world > 1 and not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if cuda else "gloo")
    return _Dist(rank, world, device, created)


def train(
    config: TrainConfig,
    train_path: str | Path,
    valid_path: str | Path | None,
    output_dir: str | Path,
    command: str = "",
) -> TrainResult:
    """Train (or resume, if ``output_dir`` holds checkpoints) and export the final bundle.
    Runs with ``run.threads`` torch threads and restores the caller's setting afterwards."""
    threads = torch.get_num_threads()
    if config.run.threads is not None:
        torch.set_num_threads(config.run.threads)
    ctx: _Dist | None = None
    try:
        ctx = _setup_distributed(config)
        return _train(ctx, config, train_path, valid_path, output_dir, command)
    finally:
        torch.set_num_threads(threads)
        if ctx is not None and ctx.created_group:
            # before the interpreter exits: a gloo group left to its destructors there
            # aborted a rank now and then ("terminate called without an active exception")
            dist.destroy_process_group()


def _train(
    ctx: _Dist,
    config: TrainConfig,
    train_path: str | Path,
    valid_path: str | Path | None,
    output_dir: str | Path,
    command: str,
) -> TrainResult:
    output = Path(output_dir)
    data = prepare_data(config, train_path, valid_path, output, ctx.main, _barrier)
    model, objective, wrapped = _model(config, ctx, data)
    optimizer = build_optimizer(model, config.optim, ctx.device)
    saved_config = {
        "train": to_dict(config),
        "vocab_size": data.units.vocab_size,
        # the data plan depends on these: resuming with other data or ranks would misplace it
        "corpus": [data.train.key, data.valid.key],
        "batches_per_step": ctx.world * config.data.grad_accum,
    }
    state = TrainingState()
    checkpoint = latest_checkpoint(output / "checkpoints")
    if checkpoint is None and config.run.init_from is not None:
        warm_start(
            model,
            config.run.init_from,
            data,
            output if ctx.main else None,
            grow=config.run.init_grow,
        )
    earlier = earlier_record(output)
    torch.manual_seed(config.run.seed * 1000 + ctx.rank)  # dropout differs per rank
    if checkpoint is not None:
        check_resumable(checkpoint_config(checkpoint), saved_config, checkpoint)
        state = load_checkpoint(checkpoint, model, optimizer, ctx.rank)
        if ctx.main:
            drop_metrics_after(output / "metrics.jsonl", state.step)
            print(f"resuming from {checkpoint} (step {state.step})", flush=True)
    loop = _Loop(config, ctx, data, wrapped, model, optimizer, state, saved_config, output)
    first_step = state.step
    loop.run(time.monotonic())  # run.max_time_s and elapsed_s count training, not data prep
    ppl = evaluate(objective, data, config, ctx.device) if ctx.main else (math.nan, math.nan)
    bundle = output / "model"
    if ctx.main:
        if state.step > first_step:  # a rerun of a finished run logs nothing new
            loop.log_metrics(ppl)
        curve = _export_curve(output, bundle)
        card = model_card(config, data, state, ppl, command, ctx.device, ctx.world, earlier, curve)
        training = {
            "steps": state.step,
            "tokens": state.tokens,
            "elapsed_s": round(state.elapsed_s, 3),
            "continued": earlier,
        }
        save_bundle(model, bundle, tokenizer=data.units, model_card=card, training=training)
    _barrier()
    return TrainResult(bundle, state, *ppl)


def _model(
    config: TrainConfig, ctx: _Dist, data: TrainingData
) -> tuple[BiLM, LanguageModelObjective, torch.nn.Module]:
    """The run's model (seeded), its objective, and that objective as the ranks share it."""
    model_config = replace(config.model, vocab_size=data.units.vocab_size)
    torch.manual_seed(config.run.seed)
    model = BiLM(model_config).to(ctx.device).train()
    lstm = config.run.lstm
    model.recurrent.use_fused = lstm == "fused" or (lstm == "auto" and ctx.device.type != "cpu")
    objective = LanguageModelObjective(model, data.units.unit_char_ids().to(ctx.device))
    if ctx.world == 1:
        return model, objective, objective
    devices = [ctx.device] if ctx.device.type == "cuda" else None
    wrapped = torch.nn.parallel.DistributedDataParallel(objective, device_ids=devices)
    return model, objective, wrapped


def _export_curve(output: Path, bundle: Path) -> str | None:
    """Draw the run's curve into the run directory and the bundle; the name the card links, or
    None when it cannot be drawn (then an earlier export's picture goes, as the card no longer
    names it)."""
    curve = bundle / CURVE_FILE
    if write_training_curve(output / "metrics.jsonl", output / CURVE_FILE, curve):
        return CURVE_FILE
    curve.unlink(missing_ok=True)
    return None


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


class _Loop:
    """The step loop; one instance per run."""

    def __init__(self, config, ctx, data, wrapped, model, optimizer, state, saved_config, output):
        self.config, self.ctx, self.data = config, ctx, data
        self.wrapped, self.model, self.optimizer = wrapped, model, optimizer
        self.state, self.saved_config, self.output = state, saved_config, output
        self.micro = ctx.world * config.data.grad_accum
        self.plan = self._plan(state.epoch)
        self.metrics_path = output / "metrics.jsonl"
        self.train_loss = math.nan

    def _plan(self, epoch: int) -> list[list[np.ndarray]]:
        plan = plan_epoch(
            self.data.train.lengths,
            self.config.data.batch_tokens,
            self.micro,
            self.config.run.seed,
            epoch,
        )
        if not plan:
            raise ConfigError(
                f"the training data fill fewer than {self.micro} batches of "
                f"data.batch_tokens={self.config.data.batch_tokens}: lower it"
            )
        return plan

    def _next_step(self) -> list[np.ndarray]:
        if self.state.index >= len(self.plan):
            self.state.epoch += 1
            self.state.index = 0
            self.plan = self._plan(self.state.epoch)
        step = self.plan[self.state.index]
        self.state.index += 1
        return step

    def run(self, started: float) -> None:
        cfg = self.config.run
        bar = tqdm(
            total=cfg.max_steps,
            initial=self.state.step,
            disable=not self.ctx.main,
            unit="step",
            dynamic_ncols=True,
        )
        loss_sum = torch.zeros((), device=self.ctx.device)
        logged_tokens, logged_at, steps_since_log = 0, time.monotonic(), 0
        elapsed_before = self.state.elapsed_s
        while self.state.step < cfg.max_steps:
            if self._out_of_time(started, elapsed_before):
                break
            batches = self._next_step()
            loss_sum += self._train_step(batches)
            tokens = int(sum(self.data.train.lengths[b].sum() for b in batches))
            self.state.tokens += tokens
            logged_tokens += tokens
            self.state.step += 1
            self.state.elapsed_s = elapsed_before + time.monotonic() - started
            bar.update(1)
            step = self.state.step
            steps_since_log += 1
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                self.train_loss = float(loss_sum) / steps_since_log  # the one host sync
                loss_sum.zero_()
                steps_since_log = 0
                rate = logged_tokens / max(time.monotonic() - logged_at, 1e-9)
                bar.set_postfix(
                    loss=f"{self.train_loss:.3f}",
                    ppl=f"{math.exp(min(self.train_loss, 50)):.1f}",
                    tok_s=f"{rate:,.0f}",
                )
                logged_tokens, logged_at = 0, time.monotonic()
            if step % cfg.eval_every == 0 and step < cfg.max_steps and self.ctx.main:
                self.log_metrics(
                    evaluate(self.wrapped_module, self.data, self.config, self.ctx.device)
                )
                self.model.train()
            if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
                self.checkpoint()
        if self.state.step % cfg.checkpoint_every and self.state.step < cfg.max_steps:
            self.checkpoint()  # stopped by max_time_s
        bar.close()

    def _out_of_time(self, started: float, elapsed_before: float) -> bool:
        """Rank 0's clock decides for every rank (ranks that stopped apart would wait for each
        other forever); checked at logging steps, where the loop syncs anyway."""
        limit = self.config.run.max_time_s
        if limit is None or self.state.step % self.config.run.log_every:
            return False
        over = torch.tensor(float(time.monotonic() - started + elapsed_before >= limit))
        if self.ctx.world > 1:
            over = over.to(self.ctx.device)
            dist.broadcast(over, src=0)
        return bool(over)

    @property
    def wrapped_module(self) -> LanguageModelObjective:
        return getattr(self.wrapped, "module", self.wrapped)

    def _train_step(self, batches: list[np.ndarray]) -> torch.Tensor:
        cfg = self.config
        lr = learning_rate(cfg.optim, cfg.run.max_steps, self.state.step)
        mine = batches[
            self.ctx.rank * cfg.data.grad_accum : (self.ctx.rank + 1) * cfg.data.grad_accum
        ]
        step_loss = run_step(
            self.wrapped,
            self.optimizer,
            self.data.train,
            self.data.unit_chars,
            batches,
            mine,
            StepSettings(
                self.ctx.device, cfg.run.precision, cfg.optim.grad_clip, lr, self.ctx.world
            ),
        )
        if self.ctx.world > 1:
            dist.all_reduce(step_loss)
        return step_loss

    def checkpoint(self) -> None:
        states = [rng_state()]
        if self.ctx.world > 1:
            states = [{} for _ in range(self.ctx.world)]  # filled by the gather
            dist.all_gather_object(states, rng_state())
        if self.ctx.main:
            save_checkpoint(
                self.output / "checkpoints",
                self.model,
                self.optimizer,
                self.state,
                states,
                self.saved_config,
                self.config.run.keep_checkpoints,
            )

    def log_metrics(self, ppl: tuple[float, float]) -> None:
        forward, backward = ppl
        record = {
            "step": self.state.step,
            "tokens": self.state.tokens,
            "elapsed_s": round(self.state.elapsed_s, 3),
            "lr": learning_rate(
                self.config.optim, self.config.run.max_steps, max(self.state.step - 1, 0)
            ),
            "train_loss": None if math.isnan(self.train_loss) else self.train_loss,
            "valid_ppl_forward": forward,
            "valid_ppl_backward": backward,
            "valid_ppl": math.sqrt(forward * backward),
        }
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        write_training_curve(self.metrics_path, self.output / CURVE_FILE)


@torch.no_grad()
def evaluate(
    objective: LanguageModelObjective, data: TrainingData, config: TrainConfig, device: torch.device
) -> tuple[float, float]:
    """Validation perplexity per direction (exp of the mean NLL per predicted unit)."""
    objective.eval()
    corpus: EncodedCorpus = data.valid
    forward_sum = torch.zeros((), device=device, dtype=torch.float64)
    backward_sum = torch.zeros((), device=device, dtype=torch.float64)
    count = 0
    for (indices,) in plan_epoch(corpus.lengths, config.data.batch_tokens, 1, seed=0, epoch=0):
        batch = make_batch(corpus, indices, data.unit_chars).to(device)
        with autocast(config.run.precision, device):
            forward, backward = objective(batch)
        forward_sum += forward.double()
        backward_sum += backward.double()
        count += batch.predictions
    objective.train()
    return math.exp(float(forward_sum) / count), math.exp(float(backward_sum) / count)
