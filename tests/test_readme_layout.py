"""README's "Layout" names every module of the packages, and nothing that is not there."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = ("elmo", "service")


def _layout() -> dict[str, set[str]]:
    """``{directory: names}`` from the Layout block (parenthesised words are descriptions)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Layout\n```\n(.*?)```", readme, re.S).group(1)
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        if line[:1].strip():
            current, _, rest = line.partition(" ")
            entries[current] = rest
        else:
            entries[current] += " " + line
    names = {}
    for directory, text in entries.items():
        if directory.split("/")[0] not in PACKAGE_DIRS:
            continue
        text = re.sub(r"\([^)]*\)", "", text)  # descriptions
        text = text.split(":", 1)[1] if ":" in text else text  # "the library: a, b"
        names[directory] = {w.strip().rstrip("/") for w in re.split(r"[,;]", text) if w.strip()}
    return names


def _modules(directory: Path) -> set[str]:
    files = {p.stem for p in directory.glob("*.py") if p.stem not in {"__init__", "__main__"}}
    subdirs = {p.name for p in directory.iterdir() if (p / "__init__.py").exists()}
    return files | subdirs


def test_the_layout_lists_every_package_directory():
    listed = set(_layout())
    packages = {
        f"{p.parent.relative_to(REPO)}/"
        for d in PACKAGE_DIRS
        for p in (REPO / d).rglob("__init__.py")
        if p.parent.name != "extractors"  # listed as corpus_build's extractors/
    }
    assert listed == packages


def test_each_layout_line_names_exactly_the_modules_of_its_directory():
    for directory, names in _layout().items():
        modules = _modules(REPO / directory)
        nested = {m for m in modules if f"{directory}{m}/" in _layout()}
        assert names == modules - nested, directory
