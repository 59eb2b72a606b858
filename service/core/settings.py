"""Service settings: ``elmo serve`` flags, then ``ELMO_*`` environment variables, then defaults.

Every limit the service enforces lives here, so that ``/info`` can show all of them and an
operator can change any of them without touching code (``ELMO_MAX_INPUTS=64``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """What ``elmo serve`` runs and the limits it enforces (env: ``ELMO_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="ELMO_", extra="ignore", protected_namespaces=())

    model: str | None = Field(
        None, description="bundle directory or model name; default: the project's default model"
    )
    task: Path | None = Field(
        None,
        description="a task model directory (elmo task train) to serve on the model: "
        "POST /v1/classify or POST /v1/tag; it must have been trained on the served model's "
        "weights (checked by SHA-256 at startup)",
    )
    model_name: str | None = Field(
        None, description="name the API reports and accepts; default: the model directory's name"
    )
    host: str = Field("127.0.0.1", description="interface to bind (0.0.0.0 in containers)")
    port: int = Field(8000, ge=0, le=65535)
    device: str = Field("cpu", description="cpu, cuda, cuda:1, ...")
    torch_threads: int | None = Field(None, ge=1, description="torch intra-op threads")
    inference_process: bool = Field(
        True,
        description="run the model in a child process, where the event loop's Python cannot "
        "hold it up (false: in a thread of the server's process)",
    )

    continuous_batching: bool = Field(
        True,
        description="on a CPU, sentences join the running batch between time steps instead "
        "of waiting for the next batch (false: whole batches; a GPU always runs batches)",
    )

    max_inputs: int = Field(256, ge=1, description="inputs (sentences) per request")
    max_sentence_tokens: int = Field(
        512,
        ge=1,
        description="units the model reads per sentence (words, or sentencepiece pieces)",
    )
    max_request_tokens: int = Field(
        32768,
        ge=1,
        description="units of all of a request's sentences together (400 over it): bounds "
        "how long one request holds the model",
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1, description="request body size (413)")
    body_timeout_s: float = Field(
        30.0, gt=0, description="for a request body to arrive once its headers have (408)"
    )
    queue_size: int = Field(2048, ge=1, description="sentences waiting for the model (429)")
    timeout_s: float = Field(60.0, gt=0, description="per request, queue wait + inference")
    max_batch_tokens: int = Field(
        16384,
        ge=1,
        description="padded units (rows x longest sentence) in one forward pass; with "
        "continuous batching, units of one request's sentences in the running batch (of all "
        "requests' together: twice this)",
    )
    max_batch_sentences: int = Field(
        64,
        ge=1,
        description="sentences in one forward pass; with continuous batching, one request's "
        "sentences in the running batch (all requests' together: twice this)",
    )
    shared_batch_sentences: int = Field(
        16,
        ge=1,
        description="with continuous batching, while a small request (at most its fair "
        "share of this) runs beside larger ones: how many sentences advance in each block of "
        "time steps, each request getting at least one and the rest shared fairly, so that it "
        "waits for this many rows' work a step instead of all of them; requests that are all "
        "large, or one alone, run all of their sentences",
    )

    token_cache_units: int = Field(
        65_536,
        ge=0,
        description="layer-0 vectors kept across requests, in distinct units (words, or "
        "sentencepiece pieces; a row of D floats each): real text repeats its words, and the "
        "vectors are the same with or without them; 0: off",
    )

    api_key: SecretStr | None = Field(
        None, description="if set, every route but /health and /ready needs 'Bearer <key>'"
    )
    cors_origins: str = Field("", description="comma-separated allowed origins; empty: no CORS")
    keep_alive_s: int = Field(
        75,
        ge=1,
        description="how long an idle keep-alive connection stays open: longer than the idle "
        "timeout of a load balancer or client pool in front (60 s and 5 s are common), so that "
        "they close it, never the server while a request is on its way",
    )
    drain_s: float = Field(
        0.0, ge=0, description="after SIGTERM, /ready answers 503 this long before stopping"
    )
    graceful_timeout_s: int = Field(
        30, ge=1, description="after draining, how long in-flight requests may take to finish"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = True

    @field_validator("api_key", mode="after")
    @classmethod
    def _empty_key_is_no_key(cls, key: SecretStr | None) -> SecretStr | None:
        # ELMO_API_KEY="" (an unset compose variable) must not enable a key that "Bearer "
        # matches; it means no key.
        return key if key is not None and key.get_secret_value().strip() else None

    @model_validator(mode="after")
    def _limits_fit_together(self) -> Settings:
        # A request the other limits accept must be admissible into an empty queue, and one
        # sentence must fit into one forward pass; otherwise valid requests could never run.
        if self.max_inputs > self.queue_size:
            raise ValueError(
                f"max_inputs ({self.max_inputs}) must not exceed queue_size ({self.queue_size})"
            )
        if self.max_sentence_tokens > self.max_batch_tokens:
            raise ValueError(
                f"max_sentence_tokens ({self.max_sentence_tokens}) must not exceed "
                f"max_batch_tokens ({self.max_batch_tokens})"
            )
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def limits(self) -> dict[str, Any]:
        """The limits a client can run into, as ``/info`` reports them."""
        return {
            "max_inputs": self.max_inputs,
            "max_sentence_tokens": self.max_sentence_tokens,
            "max_request_tokens": self.max_request_tokens,
            "max_body_bytes": self.max_body_bytes,
            "body_timeout_s": self.body_timeout_s,
            "queue_size": self.queue_size,
            "timeout_s": self.timeout_s,
            "max_batch_tokens": self.max_batch_tokens,
            "max_batch_sentences": self.max_batch_sentences,
            "shared_batch_sentences": self.shared_batch_sentences,
            "keep_alive_s": self.keep_alive_s,
        }
