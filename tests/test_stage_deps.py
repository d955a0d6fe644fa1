"""Each stage in dvc.yaml lists exactly the vvpipe modules its script imports, directly or
through other vvpipe modules, so that editing one re-runs every stage it feeds."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _runtime_nodes(tree: ast.AST):
    """Every node but those under ``if TYPE_CHECKING:``, which only type checkers import."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def vvpipe_imports(path: Path) -> set[str]:
    names = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "vvpipe":
                names.update(f"vvpipe/{alias.name}.py" for alias in node.names)
            elif node.module.startswith("vvpipe."):
                names.add(node.module.replace(".", "/") + ".py")
        elif isinstance(node, ast.Import):
            names.update(a.name.replace(".", "/") + ".py" for a in node.names
                         if a.name.startswith("vvpipe."))
    return names


def closure(script: Path) -> set[str]:
    seen: set[str] = set()
    todo = list(vvpipe_imports(script))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(vvpipe_imports(ROOT / module))
    return seen


def stages() -> list[tuple[str, str, list[str]]]:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    # A foreach stage keeps its definition under "do".
    return [(name, body["cmd"].split()[1], body["deps"])
            for name, stage in spec.items() for body in [stage.get("do", stage)]]


@pytest.mark.parametrize("name, script, deps", stages(), ids=[s[0] for s in stages()])
def test_deps_match_the_import_closure(name, script, deps):
    listed = {d for d in deps if d.startswith("vvpipe/")}
    assert script in deps
    assert listed == closure(ROOT / script), name


def test_only_the_evaluation_stages_read_test_labels():
    """Test labels live in prepared/<task>_test_labels.pt; every other file a stage reads holds
    test pixels at most, so no choice can be made on them."""
    # train_task2 declares them for its explicit monitor_split "test" option only; that it never
    # reads them otherwise is shown by running it without them (test_task2_stage.py).
    readers = {name for name, _, deps in stages() if any("_test_labels" in d for d in deps)}
    assert readers == {"evaluate", "evaluate_task2", "evaluate_task4", "train_task2"}
    scripts = {script for _, script, _ in stages()}
    for script in scripts:
        uses_labels = "labelled_test_set" in (ROOT / script).read_text()
        assert uses_labels == (Path(script).stem.startswith("evaluate")
                               or script == "stages/train_task2.py"), script


def test_no_stage_imports_the_stand_in_builder():
    """The stand-in is a development tool; a user's archive must not need it."""
    for name, script, _ in stages():
        assert "vvpipe/standin.py" not in closure(ROOT / script), name
