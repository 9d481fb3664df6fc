"""The tipslib command."""

import subprocess
import sys

import tipslib
from tipslib.cli import COMMANDS, main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert tipslib.__version__ in capsys.readouterr().out


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "tipslib.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert name in out


def test_console_script_is_installed():
    out = subprocess.run(["tipslib", "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"tipslib {tipslib.__version__}"
