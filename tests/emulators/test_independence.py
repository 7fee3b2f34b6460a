"""The emulators share no code with the venue clients: a codec bug cannot hide behind its
mirror. Checked two ways: no module under ``arbtrio/emulators/`` imports ``arbtrio.venues``
(statically), and importing every emulator loads no ``arbtrio.venues`` module at all."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import arbtrio.emulators
from arbtrio.emulators import EMULATORS

ROOT = Path(arbtrio.emulators.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_emulator_module_imports_the_venue_layer() -> None:
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) >= 6
    offenders = {}
    for path in files:
        venue_imports = sorted(m for m in imported_modules(path) if m.startswith("arbtrio.venues"))
        if venue_imports:
            offenders[str(path.relative_to(ROOT))] = venue_imports
    assert offenders == {}


def test_importing_every_emulator_loads_nothing_of_the_venue_layer() -> None:
    modules = sorted({target.partition(":")[0] for target in EMULATORS.values()})
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in [*modules, "arbtrio.emulators.serve"])
        + "print(sorted(m for m in sys.modules if m.startswith('arbtrio.venues')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
