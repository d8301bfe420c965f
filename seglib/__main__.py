import sys

from seglib.cli import main

sys.exit(main())
