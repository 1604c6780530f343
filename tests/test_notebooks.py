"""Runs each numbered notebook's own tests (the cells nbdev_test runs), one pytest test per notebook,
so the test summary counts them. Cells flagged `#|notest` or `#|slow` are skipped as in nbdev_test."""
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb_tests

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('[0-9][0-9]_*.ipynb'))

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, capsys):
    flags = get_config(path=ROOT).tst_flags.split()
    ok, secs = run_nb_tests(nb, skip_flags=flags, basepath=ROOT)
    assert ok, f'{nb.name} failed (see the traceback above)'
