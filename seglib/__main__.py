import sys

from seglib.cli.main import main

sys.exit(main())
