"""Command-line interface. Each command module registers itself on the shared Typer app.

Commands are thin: parse options, build a config, call library code.
"""

from __future__ import annotations

import importlib

from img2gs.cli.app import app

# Modules that define commands; importing one registers its commands on `app`.
COMMAND_MODULES = [
    "img2gs.cli.info",
    "img2gs.cli.data",
    "img2gs.cli.splat",
    "img2gs.cli.viewgen",
    "img2gs.cli.shape",
    "img2gs.cli.lifecycle",
    "img2gs.cli.reconstruct",
]

for _module in COMMAND_MODULES:
    importlib.import_module(_module)


def main() -> None:
    app()


__all__ = ["app", "main"]
