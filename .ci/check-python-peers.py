"""Checks that the Python peers the tests start can import what they import.

Usage: /usr/bin/python3 .ci/check-python-peers.py REPO_DIR

Reads the import statements of every *.py file in the repository (node_modules aside) (without running the file) and imports every module and
every name taken from one, with this Python, as the tests run them (/usr/bin/python3 and Debian's
packages). A package installed without its recommended ones fails here, not half-way through the
tests: pymodbus, for one, imports python3-serial and python3-serial-asyncio, which it only
recommends. Prints one line per missing import (which file wants it, the error) and exits 1;
prints one summary line and exits 0 when everything imports.
"""

import ast
import importlib
import os
import sys


def wanted(path):
    """(module, name or None) for each import in the file, in order."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield node.module, None if alias.name == "*" else alias.name


def python_files(root):
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in ("node_modules", ".git"))
        yield from (os.path.join(folder, f) for f in sorted(files) if f.endswith(".py"))


def main(args):
    if len(args) != 1 or not os.path.isdir(args[0]):
        print("usage: check-python-peers.py REPO_DIR", file=sys.stderr)
        return 2
    paths = list(python_files(args[0]))
    missing = []
    checked = 0
    for path in paths:
        for module, name in wanted(path):
            checked += 1
            what = f"{module}.{name}" if name else module
            try:
                imported = importlib.import_module(module)
                if name is not None and not hasattr(imported, name):
                    importlib.import_module(f"{module}.{name}")
            except Exception as e:  # an ImportError, or whatever a half-installed package raises
                missing.append(f"{path}: {what}: {type(e).__name__}: {e}")
    for line in missing:
        print(f"missing import {line}", file=sys.stderr)
    if missing:
        return 1
    print(f"Python peers: {checked} imports in {len(paths)} files import with {sys.executable}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
