"""The README's Layout section names every module of the package and every benchmark, so a
newcomer can find what each file is for (and a new file cannot be added unexplained)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme[readme.index("## Layout"):]


def first_column(text: str) -> set[str]:
    """The names a layout line starts with (``task2 task4  what they hold`` names two)."""
    names = set()
    for line in text.splitlines():
        parts = [part for part in re.split(r"\s{2,}", line) if part.strip()]
        words = parts[0].split() if parts else []
        # A continuation of the line above is prose, not a list of names.
        if words and all(re.fullmatch(r"[a-z_0-9]+/?", word) for word in words):
            names.update(word.rstrip("/") for word in words)
    return names


def test_every_module_of_the_package_is_named_in_the_layout():
    named = first_column(layout_section())
    modules = {p.stem for p in (ROOT / "vvpipe").rglob("*.py") if p.stem != "__init__"}
    assert sorted(modules - named) == []


def test_every_benchmark_and_script_is_named_in_the_layout():
    text = layout_section()
    files = [p.name for folder in ("benchmarks", "scripts") for p in (ROOT / folder).iterdir()
             if p.suffix in (".py", ".sh")]
    assert sorted(name for name in files if name not in text) == []
