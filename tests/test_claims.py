"""The claim helper, and every chapter's claims re-run on seed sets the notebooks never use."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tipslib import ClaimFailed, claim, clearly_greater, mean_spread, seeds
from tipslib.claims import SEED_SET_ENV

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))


def test_claim_prints_the_measured_numbers(capsys):
    claim(True, "augmentation helps", plain=[0.8, 0.82, 0.81], augmented=0.9)
    out = capsys.readouterr().out
    assert out == "✓ augmentation helps — plain 0.81 ± 0.01, augmented 0.9\n"


def test_a_false_claim_raises_and_says_what_was_measured(capsys):
    with pytest.raises(ClaimFailed, match="gap narrows.*gap 0.3"):
        claim(False, "the gap narrows", gap=0.3)
    assert capsys.readouterr().out.startswith("✗ the gap narrows")


@pytest.mark.parametrize("holds", [1, "yes", None, [True]])
def test_claim_needs_a_bool(holds):
    with pytest.raises(TypeError, match="'holds'"):
        claim(holds, "x")


def test_clearly_greater_needs_more_than_the_spread():
    assert clearly_greater([1.0, 1.1, 1.2], [0.5, 0.6, 0.7])
    assert not clearly_greater([1.0, 1.1, 1.2], [0.95, 1.0, 1.05])     # overlapping spreads
    assert not clearly_greater([1.0, 1.0], [0.9, 0.9], margin=0.2)
    assert mean_spread([2.0]) == (2.0, 0.0)


def test_seed_sets_are_disjoint(monkeypatch):
    monkeypatch.delenv(SEED_SET_ENV, raising=False)
    assert seeds(3) == [0, 1, 2] and seeds(2, start=10) == [10, 11]
    monkeypatch.setenv(SEED_SET_ENV, "2")
    assert seeds(3) == [2000, 2001, 2002]
    monkeypatch.setenv(SEED_SET_ENV, "-1")
    with pytest.raises(ValueError, match=SEED_SET_ENV):
        seeds(1)
    with pytest.raises(ValueError, match="'n'"):
        seeds(0)


@pytest.mark.slow
@pytest.mark.parametrize("seed_set", ["1", "2"])
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_claims_hold_on_other_seeds(notebook, seed_set, monkeypatch):
    """A claim that held by luck on the notebook's own seeds fails here."""
    monkeypatch.setenv(SEED_SET_ENV, seed_set)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}})
    client.execute()      # a ClaimFailed in any cell raises CellExecutionError here
