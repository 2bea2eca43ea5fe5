"""The apps form a strict stack: each imports only the apps below it, and never one inside a function.

    dockerbench (the engine) < core < hosts < scans < notifications < schedules < reports < config (the wiring)

The engine imports no app at all (tests/test_engine_boundary.py proves it at run time); the apps never import
config. Test modules follow the same rule, and may also use the project's test support (the `tests` package).
Read from the source with ast, so an import inside a function, a branch or ``if TYPE_CHECKING`` counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STACK = ["dockerbench", "core", "hosts", "vulns", "scans", "notifications", "schedules", "reports", "api"]
PACKAGES = [*STACK, "config", "tests"]


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(top-level package, line, inside a function) of every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend((alias.name.split(".")[0], child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module.split(".")[0], child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def _files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _is_test(path: Path) -> bool:
    return "tests" in path.relative_to(ROOT).parts


def test_the_stack_is_what_the_settings_install() -> None:
    from django.conf import settings

    ours = [app for app in settings.INSTALLED_APPS if app in STACK]
    assert ours == STACK[1:], "INSTALLED_APPS lists our apps bottom-up, as STACK does"


@pytest.mark.parametrize("package", STACK)
def test_no_app_imports_one_above_it_or_the_wiring(package: str) -> None:
    level = STACK.index(package)
    wrong = []
    for path in _files(package):
        for target, line, _ in _imports(path):
            if target not in PACKAGES or target == package:
                continue
            allowed = target in STACK and STACK.index(target) < level and package != "dockerbench"
            allowed = allowed or (target == "tests" and _is_test(path) and package != "dockerbench")
            if not allowed:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("package", [*STACK, "config"])
def test_no_function_level_import_between_apps(package: str) -> None:
    # A function-level import is how a cycle gets dodged; between our packages there is none to dodge.
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {target} inside a function"
        for path in _files(package)
        for target, line, in_function in _imports(path)
        if in_function and target in PACKAGES and target != package
    ]
    assert wrong == [], "\n".join(wrong)


def test_the_checker_sees_imports_inside_functions_and_branches(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import core.access\n"
        "if True:\n    from hosts import models\n"
        "def f():\n    from scans.services import start_scan\n"
        "class C:\n    def g(self):\n        import schedules.tasks\n"
    )
    assert _imports(module) == [("core", 1, False), ("hosts", 3, False), ("scans", 5, True), ("schedules", 8, True)]


def test_every_test_folder_is_collected() -> None:
    """A tests folder missing from pytest's testpaths never runs, in CI or anywhere: it reads like a pass."""
    import tomllib

    testpaths = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"][
        "testpaths"
    ]
    folders = sorted(str(p.relative_to(ROOT)) for package in PACKAGES for p in [ROOT / package / "tests"] if p.is_dir())
    assert [f for f in folders if f not in testpaths] == []
