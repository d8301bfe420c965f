"""Command line: ``seglib`` / ``python -m seglib`` and its sub-commands."""
