"""Start the service in this process from the environment (for subprocess tests and bench).

    python -m tests.e2e.server PORT     # RISKLINE_HOME, RISKLINE_API_KEYS, ... from the env

Models are the documented test double (``tests.serving.fakes.LinearModel``) until
``riskline.models`` lands.
"""

from __future__ import annotations

import os
import sys

from riskline.serving import ServeSettings, serve
from tests.serving.fakes import LinearModel


def main() -> None:
    serve(ServeSettings.from_env(os.environ), LinearModel.from_bytes, port=int(sys.argv[1]))


if __name__ == "__main__":
    main()
