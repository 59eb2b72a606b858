"""Every exception the library raises on purpose, in one place.

Callers catch :class:`ElmoError` for anything the library reports; the subclasses say what went
wrong.  Input problems are also ``ValueError`` so that generic code that validates arguments
keeps working.  The modules that raise them also export them under their old names
(``elmo.training.corpus.CorpusError``, ...)::

    ElmoError
    ├── ConfigError (ValueError)      a model or training configuration
    ├── InvalidInputError (ValueError) sentences and tokens given to the model
    ├── WeightFileError               weight files and bundles
    ├── CorpusError (ValueError)      training text (elmo.training.corpus)
    ├── ExtractError (ValueError)     extraction's input and output files (elmo.inference.extract)
    ├── ManifestError (ValueError)    a corpus manifest, sources.toml (elmo.corpus_build)
    ├── BuildError                    building a corpus from its sources (elmo.corpus_build)
    ├── FetchError                    fetching a pinned package (elmo.io.registry)
    └── EvalDataError                 evaluation data (elmo.evaluation)

Misuse of an API by a programmer (a streaming engine on a GPU, say) is a plain ``ValueError``.
"""

from __future__ import annotations

__all__ = [
    "BuildError",
    "ConfigError",
    "CorpusError",
    "ElmoError",
    "EvalDataError",
    "ExtractError",
    "FetchError",
    "InvalidInputError",
    "ManifestError",
    "WeightFileError",
]


class ElmoError(Exception):
    """Base class of all errors raised by the ``elmo`` package."""


class ConfigError(ElmoError, ValueError):
    """A model configuration is malformed: unknown key, wrong type or out-of-range value."""


class InvalidInputError(ElmoError, ValueError):
    """Sentences, tokens or options passed to the model are not usable (wrong type, empty
    token, a layer the model does not have, ...).

    ``field`` names the argument, or the part of it, that is wrong (``"layers[1]"``,
    ``"mix.gamma"``) where the check knows it, so that a caller that takes the value from a
    request can name it back (the service's 400s do) without parsing the message.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class WeightFileError(ElmoError):
    """A weight file or bundle is missing, unreadable, or does not match the configuration.

    The message names the file and the dataset or key, and gives expected vs actual shapes.
    """


class BuildError(ElmoError):
    """A source cannot be built (nothing matched its paths, an input cannot be read)."""


class ManifestError(ElmoError, ValueError):
    """``sources.toml`` is malformed; the message names the file and the key."""


class ExtractError(ElmoError, ValueError):
    """Bad input or output for extraction; the message names the file and line."""


class EvalDataError(ElmoError):
    """Evaluation data are missing or malformed; the message names the file."""


class FetchError(ElmoError):
    """A package could not be fetched or unpacked; the message names it and the command."""


class CorpusError(ElmoError, ValueError):
    """A corpus path is missing, holds no files, or holds no usable text."""
