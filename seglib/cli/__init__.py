"""Command line: ``seglib`` / ``python -m seglib`` and its sub-commands, one module per command
named after it (``demo-model`` is ``demo_model``); ``main`` collects them, ``options`` holds what
their parsers share."""
