import os, pytest
from pathlib import Path
from fcot.core import default_data_dir

def _has_data():
    d = default_data_dir()
    return (d/'zero_shot_cot'/'dataset').is_dir() and (d/'reasoning_teacher'/'split').is_dir()

@pytest.fixture
def real_data():
    "The real data directory; skips the test, saying why, when it is absent."
    if not _has_data():
        pytest.skip(f'real data not found at {default_data_dir()} (set FCOT_DATA_DIR to a copy of shared/data)')
    return default_data_dir()
