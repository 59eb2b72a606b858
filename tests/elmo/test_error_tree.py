"""The library's exceptions form one tree, defined in elmo.errors."""

import importlib
import inspect
import pkgutil

import elmo
from elmo import errors


def _library_modules():
    for info in pkgutil.walk_packages(elmo.__path__, "elmo."):
        if not info.name.endswith(".__main__"):  # running it is running the command
            yield importlib.import_module(info.name)


def test_every_exception_the_library_defines_lives_in_elmo_errors_under_elmo_error():
    defined_elsewhere = [
        f"{module.__name__}.{name}"
        for module in _library_modules()
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
        and module is not errors
    ]
    assert defined_elsewhere == []
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.ElmoError)


def test_the_old_import_paths_of_moved_exceptions_still_work():
    from elmo.corpus_build.build import BuildError
    from elmo.corpus_build.manifest import ManifestError
    from elmo.evaluation.sources import EvalDataError
    from elmo.inference.extract import ExtractError
    from elmo.io.registry import FetchError
    from elmo.training.corpus import CorpusError

    moved = (CorpusError, BuildError, ManifestError, EvalDataError, ExtractError, FetchError)
    assert all(getattr(errors, cls.__name__) is cls for cls in moved)
