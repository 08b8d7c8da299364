"""Start kpibot: the console chat on the embedded default, or the configured chat platforms."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
