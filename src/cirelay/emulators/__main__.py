"""python -m cirelay.emulators: the same as the cirelay-emulators command."""

import sys

from cirelay.emulators.cli import main

if __name__ == "__main__":
    sys.exit(main())
