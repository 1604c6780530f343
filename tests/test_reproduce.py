"""The embedded default (issue 5): the preset's code path end to end, its resumability and its determinism."""
import json
from fcot.core import read_jsonl
from fcot.reproduce import run_preset, smoke_config
from fcot.cli import main

def _numbers(rows):
    return [{k: v for k, v in r.items() if not k.endswith('seconds')} for r in rows]

def test_same_seed_same_numbers(tmp_path):
    a = run_preset(smoke_config(), tmp_path/'a', progress=False)
    b = run_preset(smoke_config(), tmp_path/'b', progress=False, workers=2)   # side by side in two processes
    assert _numbers(a) == _numbers(b)
    c = run_preset(smoke_config().replace(seed=1), tmp_path/'c', progress=False)
    outcome = lambda rows: [(r['samples'], r['teacher_accuracy'], r['accuracy']) for r in rows]
    assert outcome(c) != outcome(a)   # the seed is what fixes the numbers: another seed, other questions, other results

def test_reproduce_command_writes_the_report(tmp_path):
    assert main(['reproduce', '--preset', 'smoke', '--out-dir', str(tmp_path)]) == 0
    out = tmp_path/'cpu_preset'
    rows = read_jsonl(out/'results.jsonl')
    assert len(rows) == len(smoke_config().runs())
    assert (out/'studies.png').stat().st_size > 10_000 and (out/'main_table.md').read_text().startswith('| task')
    assert json.loads((out/'environment.json').read_text())['torch']
