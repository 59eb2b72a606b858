"""Every exception the library raises on purpose, in one place.

Callers catch :class:`ElmoError` for anything the library reports; the subclasses say what went
wrong.  Input problems are also ``ValueError`` so that generic code that validates arguments
keeps working.
"""

from __future__ import annotations

__all__ = ["ConfigError", "ElmoError", "InvalidInputError", "WeightFileError"]


class ElmoError(Exception):
    """Base class of all errors raised by the ``elmo`` package."""


class ConfigError(ElmoError, ValueError):
    """A model configuration is malformed: unknown key, wrong type or out-of-range value."""


class InvalidInputError(ElmoError, ValueError):
    """Sentences or tokens passed to the model are not usable (wrong type, empty token, ...)."""


class WeightFileError(ElmoError):
    """A weight file or bundle is missing, unreadable, or does not match the configuration.

    The message names the file and the dataset or key, and gives expected vs actual shapes.
    """
