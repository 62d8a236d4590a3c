"""The decision log's writer process: ``python -m riskline.decisions._child DOWN UP`` (file
descriptors of the pipe from its parent and the pipe back; see ``_process``)."""

import sys

from riskline.decisions._process import serve

if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
