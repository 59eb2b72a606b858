import ast
from pathlib import Path

import elmo
from elmo.moved import MOVED

PACKAGE = Path(elmo.__file__).parent


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in a file, absolute names only."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _library_imports() -> list[tuple[str, int, str]]:
    return [
        (str(path.relative_to(PACKAGE)), line, module)
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, module in _imports(path)
    ]


def test_no_module_of_the_library_imports_the_service():
    bad = [x for x in _library_imports() if x[2] == "service" or x[2].startswith("service.")]
    assert bad == []


def test_no_module_of_the_library_imports_a_moved_path():
    assert [x for x in _library_imports() if x[2] in MOVED] == []


def test_the_serve_command_comes_from_the_services_entry_point():
    from importlib.metadata import entry_points

    from elmo.cli import COMMANDS_GROUP

    (serve,) = [e for e in entry_points(group=COMMANDS_GROUP) if e.name == "serve"]
    assert serve.value == "service.cli:add"
