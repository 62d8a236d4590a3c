"""``python -m riskline.cli``: the same as the ``riskline`` command."""

from riskline.cli import run

run()
