"""The ``riskline`` command line; a composition root (reads settings, wires components).

Typer lives only here. Each command group is a module; importing them registers nothing by
side effect: ``_root.build()`` adds them to the app explicitly.
"""

from riskline.cli._root import app, run

__all__ = ["app", "run"]
