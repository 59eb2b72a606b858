"""What one server process holds: settings, the model, the scheduler, metrics, readiness.

The model loads in the background after the server starts listening, so that liveness
(``/health``) answers at once while readiness (``/ready``) says 503 until the model is loaded
and has run one batch (lazy initialisations happen then, not in a client's request).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import anyio
import torch

from elmo import (
    BiLM,
    ConfigError,
    Embedder,
    TaskPredictor,
    load_config,
    load_task_for_model,
    load_tokenizer,
    read_task_kind,
    require_frozen,
)
from service.core.errors import ServiceError
from service.core.metrics import Metrics
from service.core.settings import Settings
from service.engine.batches import Batches
from service.engine.interface import Engine
from service.engine.process import InferenceProcess, unavailable
from service.engine.scheduler import Scheduler
from service.engine.streaming import ThreadStream

__all__ = ["ServiceState"]

logger = logging.getLogger("service")


class ServiceState:
    """The process's model and scheduler, and whether they can take requests.

    Args:
        settings: limits and options.
        metrics: where the scheduler reports.
        embedder: an already loaded model (tests share one); otherwise ``model_path`` loads.
        model_path: the bundle to load when no ``embedder`` is given.
        task: a task model already loaded, on the ``embedder``'s biLM (tests); otherwise
            ``settings.task`` loads, checked against the weights of ``model_path``.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        embedder: Embedder | None = None,
        model_path: Path | None = None,
        task: TaskPredictor | None = None,
    ) -> None:
        if embedder is None and model_path is None:
            raise ValueError("ServiceState needs an embedder or a model_path")
        if task is not None and settings.task is not None:
            raise ValueError("give a task or settings.task, not both")
        self.settings = settings
        self.metrics = metrics
        self.model_path = model_path
        self.model_name = settings.model_name or (model_path.name if model_path else "elmo")
        self._given = embedder
        self._given_task = task
        self.embedder: Embedder | None = None
        self.task: TaskPredictor | None = None  # set before ready, when one is configured
        self.task_name: str | None = None
        self.task_kind: str | None = None  # the route it answers: known before it loads
        if task is not None:
            self.task_kind = task.task
            self.task_name = task.directory.name if task.directory is not None else "task"
        elif settings.task is not None:
            self.task_name = settings.task.name
            self.task_kind = read_task_kind(settings.task)
        self.inference: InferenceProcess | None = None  # the engine, when it is a child process
        self.engine: Engine | None = None
        self.scheduler: Scheduler | None = None
        self.ready = False
        self.draining = False
        self.load_error: str | None = None
        self.created = int(time.time())
        self.cpu_limiter: anyio.CapacityLimiter | None = None

    async def start(self) -> None:
        """Load (unless given) and warm the model, start the scheduler, become ready."""
        # Threads for tokenizing and encoding large requests: more than CPUs only contend.
        self.cpu_limiter = anyio.CapacityLimiter(os.cpu_count() or 1)
        try:
            embedder, engine = await asyncio.to_thread(self._load)
            self.embedder, self.engine = embedder, engine
            task = await asyncio.to_thread(self._load_task, embedder)
            if task is not None:
                _check_task_fits(task, embedder)
                self.task = task
            scheduler = Scheduler(
                engine,
                max_batch_tokens=self.settings.max_batch_tokens,
                max_batch_sentences=self.settings.max_batch_sentences,
                queue_size=self.settings.queue_size,
                metrics=self.metrics,
            )
            scheduler.start()
            self.scheduler = scheduler
            self.ready = True
            logger.info(
                "model %s ready: %d layers of %d dimensions on %s%s",
                self.model_name, embedder.num_layers, embedder.dim, self.device,
                "" if self.inference is None else f" (process {self.inference.pid})",
            )  # fmt: skip
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            logger.exception("the model could not be loaded")

    def _load_task(self, embedder: Embedder) -> TaskPredictor | None:
        """The configured task model, refused unless it was trained on the served weights
        (:func:`elmo.load_task_for_model`).  Its head shares ``embedder``'s biLM (the served
        weights, or their weightless skeleton when a child process runs them): the head
        reads the layers the engine computes, so a second copy would only take memory."""
        if self._given_task is not None:
            require_frozen(self._given_task.model.config, self.task_name)
            return self._given_task
        directory = self.settings.task
        if directory is None:
            return None
        if self.model_path is None:
            raise ConfigError(
                f"task {directory}: its base model can only be checked against a model path; "
                "with an embedder already loaded, pass the task loaded (create_app(task=...))"
            )
        logger.info("loading task %s on %s", directory, self.model_path)
        return load_task_for_model(
            directory, self.model_path, bilm=embedder.model, units=embedder.units
        )

    @property
    def streaming(self) -> bool:
        """Whether sentences join the running batch (continuous batching)."""
        return self.scheduler is not None and self.scheduler.streaming

    @property
    def device(self) -> str:
        """Where the model runs."""
        if self.inference is not None:
            return self.inference.device
        return str(self.embedder.device) if self.embedder is not None else self.settings.device

    def _load(self) -> tuple[Embedder, Engine]:
        """The embedder that prepares requests, and the engine that runs them: with
        ``inference_process`` a child process (started here; this one then holds no weights),
        else this process (continuous batching in a thread of its own on a CPU)."""
        batch = self.settings.max_batch_sentences
        settings = self.settings
        if self._given is not None:  # same model, batch size of the scheduler
            given = self._given
            embedder = Embedder(
                given.model,
                batch,
                given.device,
                units=given.units,
                unit_pooling=given.unit_pooling,
                token_cache=settings.token_cache_units,
            )
        else:
            assert self.model_path is not None
            logger.info("loading %s", self.model_path)
            if settings.inference_process:
                self.inference = InferenceProcess(
                    self.model_path,
                    batch,
                    settings.device,
                    settings.torch_threads,
                    streaming=settings.continuous_batching and _on_cpu(settings.device),
                    shared_rows=settings.shared_batch_sentences,
                    stop_timeout_s=settings.graceful_timeout_s,
                    token_cache_units=settings.token_cache_units,
                )
                self.inference.start()
                # This process only tokenizes and reads the architecture: a weightless copy
                # (PyTorch's meta device) instead of a second copy of the weights.
                with torch.device("meta"):
                    skeleton = BiLM(load_config(self.model_path))
                units = load_tokenizer(self.model_path)
                return Embedder(skeleton, batch, "meta", units=units), self.inference
            embedder = Embedder.from_pretrained(
                self.model_path, batch, settings.device, token_cache=settings.token_cache_units
            )
        embedder.warm_up()
        if settings.continuous_batching and embedder.device.type == "cpu":
            shared = settings.shared_batch_sentences
            stream = ThreadStream(
                embedder.model, embedder.unit_char_ids, shared, settings.token_cache_units
            )
            return embedder, stream
        return embedder, Batches(embedder)

    async def stop(self) -> None:
        """Let the scheduler finish what is queued (the server has already waited for its
        requests), then end its thread and the model's process."""
        self.ready = False
        if self.scheduler is not None:
            await asyncio.to_thread(self.scheduler.stop, float(self.settings.graceful_timeout_s))
        if self.inference is not None:
            await asyncio.to_thread(self.inference.stop, float(self.settings.graceful_timeout_s))

    @property
    def restarting(self) -> bool:
        """Whether the model's process is being replaced (work is refused meanwhile)."""
        return self.inference is not None and not self.inference.available

    def require_ready(self) -> tuple[Embedder, Scheduler]:
        if self.ready and self.restarting:
            raise unavailable()
        if not self.ready or self.embedder is None or self.scheduler is None:
            raise ServiceError(
                503,
                "the model is not loaded yet; retry shortly"
                if self.load_error is None
                else "the model could not be loaded; see the server log",
                type="server_error",
                code="model_not_ready",
                headers={"Retry-After": "1"},
            )
        return self.embedder, self.scheduler

    def check_model(self, name: str | None) -> None:
        """``name`` must be the served model's or ``default`` (404 otherwise, as OpenAI does)."""
        if name is None or name in ("default", self.model_name):
            return
        raise ServiceError(
            404,
            f"the model {name!r} does not exist: this server serves {self.model_name!r} "
            "(or say 'default')",
            param="model",
            code="model_not_found",
        )


def _check_task_fits(task: TaskPredictor, embedder: Embedder) -> None:
    """The task's biLM has the served one's layers (a given task was loaded elsewhere)."""
    config = task.model.elmo.bilm.config
    if (config.num_output_layers, config.output_dim) != (embedder.num_layers, embedder.dim):
        raise ConfigError(
            f"task {task.directory}: its biLM has {config.num_output_layers} layers of "
            f"{config.output_dim}, the served model {embedder.num_layers} of {embedder.dim}"
        )


def _on_cpu(device: str) -> bool:
    return torch.device(device).type == "cpu"
