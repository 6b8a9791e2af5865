"""The simulator stands apart from berth: it imports nothing of it, so it can disagree."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import simulator

# kazoo: a master registers in ZooKeeper as Mesos does (simulator/zk.py)
ALLOWED = {"simulator", "werkzeug", "jsonschema", "referencing", "kazoo"}


def test_the_simulator_imports_only_the_standard_library_werkzeug_and_jsonschema() -> None:
    package = Path(simulator.__file__).parent
    foreign = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in ALLOWED and top not in sys.stdlib_module_names:
                    foreign.append(f"{path.name}: {name}")
    assert foreign == []
