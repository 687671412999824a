"""The dependency arrows between the four packages, read from their import statements (ast):

    api -> runtime -> core,   convert -> core,   runtime -> convert only lazily

`core` imports none of the others; `convert` neither `runtime` nor `api`; `runtime` not `api`,
and `convert` only inside a function (to produce or read a file the conversion makes, such as
a missing ONNX export), so importing the runtime never loads the conversion stack. A package's
`__main__.py` is a program entry, not a library module: it is left out.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "convert", "runtime", "api")
# package -> packages it must never import, and those it may import only inside a function
NEVER = {"core": {"convert", "runtime", "api"}, "convert": {"runtime", "api"}, "runtime": {"api"}}
LAZY_ONLY = {"runtime": {"convert"}, "api": {"convert"}}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    target: str  # the top-level package imported
    in_function: bool
    type_only: bool  # under `if TYPE_CHECKING:`


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[Import]:
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                if isinstance(child, ast.ImportFrom):
                    names = [child.module or ""] if child.level == 0 else []
                else:
                    names = [alias.name for alias in child.names]
                for name in names:
                    top = name.split(".")[0]
                    if top in PACKAGES:
                        found.append(Import(path, child.lineno, top, in_function, type_only))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for branch in child.body:
                    visit(ast.Module(body=[branch], type_ignores=[]), in_function, True)
                for branch in child.orelse:
                    visit(ast.Module(body=[branch], type_ignores=[]), in_function, type_only)
            else:
                visit(child, in_function, type_only)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False, False)
    return found


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if p.name != "__main__.py")


@pytest.mark.parametrize("package", PACKAGES)
def test_dependency_arrows(package: str) -> None:
    wrong = []
    for path in _modules(package):
        for imp in _imports(path):
            where = f"{path.relative_to(ROOT)}:{imp.line} imports {imp.target}"
            if imp.target in NEVER.get(package, set()):
                wrong.append(where)
            elif (
                imp.target in LAZY_ONLY.get(package, set())
                and not imp.in_function
                and not imp.type_only
            ):
                wrong.append(f"{where} at module level (import it inside the function)")
    assert not wrong, "\n".join(wrong)


def test_the_scan_sees_the_kinds_of_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import runtime.images\n"
        "if TYPE_CHECKING:\n"
        "    from convert.engine.sidecar import EngineSidecar\n"
        "else:\n"
        "    import core.lazy\n"
        "def f():\n"
        "    from convert.onnx_export import export_onnx\n"
        "from .sibling import x\n"
    )
    seen = {(i.target, i.in_function, i.type_only) for i in _imports(module)}
    assert seen == {
        ("runtime", False, False),
        ("convert", False, True),
        ("core", False, False),
        ("convert", True, False),
    }
