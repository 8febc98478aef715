"""Count first-party imports made inside functions in llamatouch/ (outside cli/, where they keep
``--help`` fast). Such imports often hide a package cycle; docs/architecture.md quotes the count.

Usage: ``python3 scripts/lazy_imports.py [REPO_ROOT]`` (default: this checkout).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

FIRST_PARTY = ("llamatouch", "llamatouch_emulator", "llamatouch_agents")


def count(root: Path) -> tuple[int, int]:
    """(imports, modules) of first-party imports inside functions under ``root/llamatouch``."""
    imports, modules = 0, set()
    for path in sorted((root / "llamatouch").rglob("*.py")):
        if "cli" in path.relative_to(root).parts:
            continue
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if (isinstance(node, ast.ImportFrom) and node.module
                        and node.module.split(".")[0] in FIRST_PARTY):
                    imports += 1
                    modules.add(path)
    return imports, len(modules)


if __name__ == "__main__":
    n, m = count(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
    print(f"{n} function-level first-party imports in {m} modules (llamatouch/, outside cli/)")
