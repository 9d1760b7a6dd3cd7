"""The engine core imports no framework and no I/O library (checked on its source)."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import orders.engine

ENGINE_DIR = pathlib.Path(orders.engine.__file__).parent
FORBIDDEN = ("django", "rest_framework", "redis", "psycopg", "psycopg2", "celery", "kombu")
# No clock and no randomness either: the same commands must give the same events.
NONDETERMINISTIC = ("time", "datetime", "random", "uuid", "secrets", "os", "threading")


def _imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_modules_import_no_django_redis_or_postgres() -> None:
    sources = sorted(ENGINE_DIR.glob("*.py"))
    assert sources, "no engine modules found"
    for path in sources:
        imported = _imported_modules(path)
        assert not imported & set(FORBIDDEN), f"{path.name} imports {sorted(imported & set(FORBIDDEN))}"
        assert not imported & set(NONDETERMINISTIC), f"{path.name} imports {sorted(imported & set(NONDETERMINISTIC))}"


def test_importing_the_engine_loads_none_of_them() -> None:
    code = (
        "import sys; import orders.engine.engine, orders.engine.units;"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]; print(bad)"
    )
    root = ENGINE_DIR.parent.parent
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
