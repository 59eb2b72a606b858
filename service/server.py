"""``elmo serve``: uvicorn on the app, with a graceful stop on SIGTERM.

On SIGTERM (or Ctrl-C) the server first reports 503 on ``/ready`` for ``drain_s`` seconds while
still serving, so a load balancer stops sending traffic; then it stops accepting connections,
lets in-flight requests finish (up to ``graceful_timeout_s``), stops the scheduler and exits 0.
A second signal stops at once.  uvicorn re-raises a caught signal after its shutdown, which
would end the process *by* SIGTERM (exit status -15) after a clean drain; this server does not.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from pydantic import ValidationError

from elmo import ConfigError, WeightFileError, default_model_path, is_model_dir, resolve_model_path
from service.app import create_app
from service.core.settings import Settings
from service.state import ServiceState

__all__ = ["load_settings", "serve"]

logger = logging.getLogger("service")


def load_settings(**overrides: Any) -> Settings:
    """Settings from ``overrides`` (command-line flags; None means not given), the ``ELMO_*``
    environment and defaults; a bad value is a :class:`ConfigError` naming the setting."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"invalid service settings (flags or ELMO_* variables): {problems}"
        ) from None


def model_path(settings: Settings) -> Path:
    """The model to serve: ``settings.model`` (path or name), or the default model."""
    if settings.model is None:
        return default_model_path()
    path = resolve_model_path(settings.model)
    if not path.is_dir() or not is_model_dir(path):
        raise WeightFileError(f"{path}: not a model directory (bundle or original files)")
    return path


class _Server(uvicorn.Server):
    """uvicorn's server with a drain period before shutdown and a clean exit status."""

    def __init__(self, config: uvicorn.Config, state: ServiceState, drain_s: float) -> None:
        super().__init__(config)
        self.state = state
        self.drain_s = drain_s

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.state.draining:  # a second signal: stop now
            self.should_exit = True
            self.force_exit = True
            return
        self.state.draining = True
        logger.info(
            "signal %d: /ready answers 503; stopping in %.1f s after in-flight requests",
            sig, self.drain_s,
        )  # fmt: skip
        if self.drain_s <= 0:
            self.should_exit = True
        else:
            timer = threading.Timer(self.drain_s, self._stop)
            timer.daemon = True
            timer.start()

    def _stop(self) -> None:
        self.should_exit = True

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def on_tick(self, counter: int) -> bool:
        if self.state.load_error is not None:
            self.should_exit = True  # no model: nothing to serve
        return await super().on_tick(counter)


def serve(settings: Settings) -> int:
    """Run the server until it is stopped; 0 after a clean stop, 1 if the model failed."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s: %(message)s")
    logging.getLogger("service").setLevel(settings.log_level.upper())
    path = model_path(settings)
    if settings.torch_threads is not None:
        import torch

        torch.set_num_threads(settings.torch_threads)
    app = create_app(settings, model_path=path)
    state: ServiceState = app.state.service
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_timeout_s,
        timeout_keep_alive=settings.keep_alive_s,
        lifespan="on",
    )
    _Server(config, state, settings.drain_s).run()
    if state.load_error is not None:
        logger.error("exiting: the model could not be loaded (%s)", state.load_error)
        return 1
    return 0
