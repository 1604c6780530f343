"""Runs each numbered notebook's own tests (the cells nbdev_test runs), one pytest test per notebook,
so the test summary counts them. Cells flagged `#|notest` or `#|slow` are skipped as in nbdev_test."""
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_nb_tests
from conftest import _has_data
from fcot.core import default_data_dir

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('[0-9][0-9]*_*.ipynb'))
# notebooks whose examples run on the real benchmark files (checked: they fail with FCOT_DATA_DIR unset to nothing)
NEEDS_DATA = {'01_tasks', '03_recorded', '05_curate', '07_evaluate'}

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb):
    if nb.stem in NEEDS_DATA and not _has_data():
        pytest.skip(f'{nb.name} shows real data, not found at {default_data_dir()} (set FCOT_DATA_DIR to a copy of shared/data)')
    flags = get_config(path=ROOT).tst_flags.split()
    ok, secs = run_nb_tests(nb, skip_flags=flags, basepath=ROOT)
    assert ok, f'{nb.name} failed (see the traceback above)'
