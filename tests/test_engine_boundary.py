"""The engine (dockerbench/) is plain Python: importing it must not pull in Django, Celery or the apps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Import every engine module found on disk (its tests aside; walk_packages recurses into checks/ and
# collect/), and insist on the entry points.
PROBE = """
import importlib, json, pkgutil, sys
import dockerbench
names = ["dockerbench", "dockerbench.runner", "dockerbench.__main__"]
names += [m.name for m in pkgutil.walk_packages(dockerbench.__path__, "dockerbench.")
          if not m.name.startswith("dockerbench.tests")]
for name in dict.fromkeys(names):
    importlib.import_module(name)
print(json.dumps({"imported": sorted(set(names)), "modules": sorted(sys.modules)}))
"""

FORBIDDEN = ("django", "celery", "kombu", "hosts", "scans", "config")


def _import_engine() -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"importing the engine failed:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_engine_imports_neither_django_nor_celery() -> None:
    result = _import_engine()
    leaked = sorted(name for name in result["modules"] if any(name == f or name.startswith(f + ".") for f in FORBIDDEN))
    assert leaked == [], f"the engine imported {leaked}"


def test_it_imports_the_cli_runner_and_collectors() -> None:
    imported = _import_engine()["imported"]
    assert {"dockerbench", "dockerbench.runner", "dockerbench.__main__", "dockerbench.collect"} <= set(imported)
