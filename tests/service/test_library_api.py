"""The service uses the library through its public API only: ``from elmo import <name>`` with
the name in ``elmo.__all__`` (or ``__version__``), never a module inside it."""

import ast
from pathlib import Path

import elmo

SERVICE = Path(__file__).resolve().parents[2] / "service"


def _library_imports() -> list[tuple[str, int, str, list[str]]]:
    found = []
    for path in sorted(SERVICE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "elmo":
                names = [alias.name for alias in node.names]
                found.append((path.name, node.lineno, node.module or "", names))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "elmo":
                        found.append((path.name, node.lineno, alias.name, []))
    return found


def test_the_service_imports_from_the_library_package_only():
    imports = _library_imports()
    assert imports  # the service does use the library
    assert [x for x in imports if x[2] != "elmo"] == []


def test_every_name_the_service_imports_is_in_the_public_api():
    public = set(elmo.__all__) | {"__version__"}
    wanted = {name for *_, names in _library_imports() for name in names}
    assert wanted - public == set()
    assert all(hasattr(elmo, name) for name in elmo.__all__)
