"""Run a notebook top to bottom in a fresh kernel, or strip its outputs (nbclient, nbformat).

    .venv-notebook/bin/python tooling/run_notebook.py run NOTEBOOK [--output EXECUTED] [--timeout S]
    .venv-notebook/bin/python tooling/run_notebook.py strip NOTEBOOK

``run`` uses the kernel of the Python that runs it (the notebook's venv, whatever kernel the file
names) and exits 1 at the first cell that fails, naming it and its error; ``--output`` keeps the
executed copy. ``strip`` clears outputs and execution counts in place: the repository keeps none.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NATIVE_KERNEL = "python3"  # ipykernel's kernel for the Python it is installed in
DEFAULT_TIMEOUT_SECONDS = 1800  # per cell: an experiment's training job on AWS takes minutes


def failed_cell(notebook: Any) -> tuple[int, Any] | None:
    """The first code cell whose outputs hold an error, with its index."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and any(out.get("output_type") == "error" for out in cell.outputs):
            return index, cell
    return None


def run(path: Path, output: Path | None, timeout: int) -> int:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=NATIVE_KERNEL,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        found = failed_cell(notebook)
        where = f"cell {found[0]} ({found[1].get('id', '?')})" if found else "a cell"
        print(f"FAILED at {where}:\n{error}")
        return 1
    finally:
        if output is not None:
            nbformat.write(notebook, output)
    print(f"ran {sum(cell.cell_type == 'code' for cell in notebook.cells)} code cells of {path}: no error")
    return 0


def strip(path: Path) -> int:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata = {}
    nbformat.write(notebook, path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_notebook.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    running = commands.add_parser("run", help="execute every cell; exit 1 at the first error")
    running.add_argument("notebook", type=Path)
    running.add_argument("--output", type=Path, default=None, help="write the executed notebook here")
    running.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_SECONDS, help="seconds per cell")
    stripping = commands.add_parser("strip", help="clear outputs and execution counts in place")
    stripping.add_argument("notebook", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.notebook, args.output, args.timeout)
    return strip(args.notebook)


if __name__ == "__main__":
    sys.exit(main())
