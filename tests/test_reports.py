"""The papermill report notebooks in nbs/paper run end to end through `fcot report` and write their tables."""
import csv
from fcot.cli import main

def test_recorded_teacher_report(real_data, tmp_path):
    assert main(['report', 'recorded_teacher', '--preset', 'recorded', '--out-dir', str(tmp_path)]) == 0
    rows = list(csv.DictReader(open(tmp_path/'recorded_teacher'/'table.csv')))
    assert len(rows) == 12 and all(r['records'] == r['matched'] for r in rows)
    for r in rows:  # the paper's rules, applied by fcot, re-derive the log's accuracy within 0.2 points
        assert abs(float(r['accuracy fcot (paper rules)']) - float(r['accuracy re-derived'])) <= 0.2, r
    assert (tmp_path/'recorded_teacher.ipynb').exists()
