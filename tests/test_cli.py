"""The command line's shape: every command is listed with its one-line help (its ``run``'s
docstring), describes itself in its own ``--help``, and a group without an action exits with 2."""

import pytest

from seglib.cli.main import main

COMMANDS = {
    "data": "generate, check and describe datasets",
    "model": "print the DeepLabV3+ layer table with output shapes and parameter counts",
    "train": "train a model into a run folder (foreground)",
    "receptive": "receptive fields and atrous sampling of the ASPP branches",
    "demo-model": "train the demo model shipped in assets/ (20-30 minutes on 2 cores)",
    "pretrain": "pretrain a CPU preset's backbone on image-level labels of synthetic images",
    "reference-runs": "train and record the optimizer reference runs shipped in assets/",
}


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_every_command_is_listed_with_its_help_in_order(capsys):
    text = _help(capsys)
    listed = [text.index(f"{name} {summary}") for name, summary in COMMANDS.items()]
    assert listed == sorted(listed)


def test_each_command_describes_itself(capsys):
    assert "Train DeepLabV3+ and write a run folder (config.json, history.csv, progress.json, checkpoints, " \
           "log)." in _help(capsys, "train")
    assert "--preset {lecture,course,keras-example}" in _help(capsys, "receptive")
    assert "check find pairs and report bad files in a dataset folder" in _help(capsys, "data")
    for name in COMMANDS:
        assert _help(capsys, name).startswith(f"usage: python -m seglib {name} ")


def test_a_group_without_an_action_prints_its_help_and_exits_2(capsys):
    assert main(["data"]) == 2
    assert capsys.readouterr().out.startswith("usage: python -m seglib data ")
    assert main([]) == 2
