"""Entry point: ``python -m loadkit.demo --port 0 ...`` (see ``loadkit.demo.server``)."""

import sys

from loadkit.demo.server import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
