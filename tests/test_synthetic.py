"""fcot.synthetic: procedural tasks (exact answers, determinism, splits) and the offline teacher (diversity, error rates,
truncation, the text-prompt interface, fcot.teachers integration). CPU-light: runs in a few seconds."""
import datetime as dt, hashlib, json, os, re, subprocess, sys
from collections import Counter
import pytest

from fcot.core import FcotError
from fcot.synthetic import SYNTH_TASKS, generate, make_split, parse_question, solve_question, get_synth
from fcot.offline import OfflineTeacher, count_tokens
from fcot.answers import extract_answer, answers_match
from fcot.tasks import get_task

TASKS = list(SYNTH_TASKS)
REASON = "Q: {q}\nA: Let's think step by step."

# ---------------------------------------------------------------- independent solvers, reading only the question text
def brute_coin(q):
    coin = 'heads'
    for verb in re.findall(r'(flips|does not flip) the coin\.', q):
        if verb == 'flips': coin = 'tails' if coin == 'heads' else 'heads'
    return 'yes' if coin == 'heads' else 'no'

def brute_letters(q):
    words = q.split('"')[1].split(' ')
    return ''.join(w[len(w) - 1] for w in words)

def brute_shuffle(q):
    story, choices = q.split('\nWhich choice is true ? Answer Choices: ')
    opts = re.findall(r'\(([A-G])\) (.+?)\.(?= \(|$)', choices)
    first, rest = story.split(': ', 1)[1].split('. \n\n')
    holders = {}
    for part in re.split(r', and |, | and (?=[A-Z][a-z]+ (?:has|is|gets))', first):
        for _, text in opts:
            if part.endswith(' ' + text) or part.endswith(' a ' + text):
                holders[part.split(' ')[0]] = text
    for a, b in re.findall(r'(?:First|Then|Finally), ([A-Z][a-z]+) and ([A-Z][a-z]+) ', rest):
        holders[a], holders[b] = holders[b], holders[a]
    who = re.search(r'At the end of the \w+, ([A-Z][a-z]+) ', rest)[1]
    return next(L for L, t in opts if t == holders[who])

def brute_arith(q):
    sents = re.split(r'(?<=[.?]) ', q)
    total, per = 0, None
    for s in sents:
        nums = list(map(int, re.findall(r'\d+', s)))
        if ' boxes ' in s: total += nums[0] * nums[1]
        elif re.search(r'\b(gave|lost|sold)\b', s): total -= nums[0]
        elif 'equally among' in s: per = nums[0]
        elif nums: total += nums[0]
    return str(total // per if per else total)

MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
def brute_date(q):
    first, rest = q.split(' What is the date ')
    m = re.search(r'(\d+)/(\d+)/(\d{4})', first)
    if m: day = dt.date(int(m[3]), int(m[1]), int(m[2]))
    else:
        m = re.search(r'([A-Z][a-z]+) (\d+), (\d{4})', first)
        day = dt.date(int(m[3]), MONTHS.index(m[1]) + 1, int(m[2]))
    k = re.search(r' (\d+) days', first)
    k = int(k[1]) if k else 0
    for pre, shift in [('Today', 0), ('Yesterday', 1), ('Tomorrow', -1), ('The day before yesterday', 2), ('It was', 7), ('It will be', -k)]:
        if first.startswith(pre): break
    else: shift = k
    # walk one day at a time (no timedelta arithmetic on the combined offset)
    what, choices = rest.split(' in MM/DD/YYYY? Answer Choices: ')
    n = int(what.split()[0]) if what[0].isdigit() else 0
    off = {'today': 0, 'tomorrow': 1, 'yesterday': -1, 'one week ago from today': -7, 'one week from today': 7}.get(what, -n if 'ago' in what else n)
    for _ in range(abs(shift + off)): day = day + dt.timedelta(days=1 if shift + off > 0 else -1)
    return dict((c, L) for L, c in re.findall(r'\(([A-F])\) (\S+)', choices))[day.strftime('%m/%d/%Y')]

def brute_column(q):
    "The spaced-digit answer by Python's own integer arithmetic on the question's numbers."
    nums = [int(x.replace(' ', '')) for x in re.split(r' [+*] ', q)]
    v = sum(nums) if ' + ' in q else nums[0] * nums[1]
    return ' '.join(str(v))

BRUTE = {'synth_coin_flip': brute_coin, 'synth_last_letters': brute_letters, 'synth_shuffled_objects': brute_shuffle,
         'synth_arithmetic': brute_arith, 'synth_date': brute_date, 'synth_addition': brute_column, 'synth_multiplication': brute_column}

HARDER = {'synth_coin_flip': dict(n_people=9), 'synth_last_letters': dict(n_words=6),
          'synth_shuffled_objects': dict(n_objects=5, n_swaps=7), 'synth_arithmetic': dict(n_ops=5, max_number=99),
          'synth_date': dict(max_days=400, n_choices=4), 'synth_addition': dict(n_digits=5, n_terms=4),
          'synth_multiplication': dict(n_digits=6)}

@pytest.mark.parametrize('name', TASKS)
def test_answers_exact(name):
    for diff in ({}, HARDER[name]):
        for r in generate(name, 150, seed=3, **diff):
            assert BRUTE[name](r['question']) == r['answer'], r['question']
            assert solve_question(r['question']) == r['answer']

@pytest.mark.parametrize('name', TASKS)
def test_records_shape_and_registry(name):
    spec = get_task(name)
    recs = generate(name, 20, seed=0)
    for i, r in enumerate(recs):
        assert set(r) == {'id', 'task', 'index', 'question', 'answer', 'choices'}
        assert r['id'] == f'{name}-{i}' and r['task'] == name and r['index'] == i
        if spec.answer_type == 'letter':
            assert r['answer'] in spec.letters and r['choices'] and f"({r['answer']}) {r['choices']['ABCDEFG'.index(r['answer'])]}" in r['question']
        else: assert r['choices'] is None
        # the gold answer survives the project's own extraction of a teacher's stage-2 text
        assert answers_match(extract_answer(f" {r['answer']}.", spec.answer_type, spec.letters, mode='first'), r['answer'], spec.answer_type)

def test_difficulty_changes_the_questions():
    assert all(len(re.findall(r'flips? the coin\.', r['question'])) == 9 for r in generate('synth_coin_flip', 20, n_people=9))
    assert all(len(r['answer']) == 6 for r in generate('synth_last_letters', 20, n_words=6))
    r = generate('synth_shuffled_objects', 1, n_objects=5, n_swaps=7)[0]
    assert r['question'].count(' swap') + r['question'].count(' trade') + r['question'].count(' switch') >= 7 and len(r['choices']) == 5
    assert all(len(r['choices']) == 4 for r in generate('synth_date', 20, n_choices=4))
    with pytest.raises(FcotError, match='unknown difficulty'): generate('synth_date', 1, n_people=3)

@pytest.mark.parametrize('name', TASKS)
def test_determinism_and_splits(name):
    a, b = make_split(name, 120, 60, seed=5), make_split(name, 120, 60, seed=5)
    assert a == b and make_split(name, 120, 60, seed=6) != a
    train_q, test_q = {r['question'] for r in a['train']}, {r['question'] for r in a['test']}
    assert len(train_q) == 120 and len(test_q) == 60 and not train_q & test_q
    assert len({r['id'] for r in a['train'] + a['test']}) == 180
    small = make_split(name, 30, 60, seed=5)
    assert small['test'] == a['test'] and small['train'] == a['train'][:30]

def test_split_overlap_is_prevented_when_questions_repeat():
    # 2 people: few distinct questions, so train and test draws collide often; none may be shared
    sp = make_split('synth_coin_flip', 300, 300, seed=0, n_people=2)
    assert not {r['question'] for r in sp['train']} & {r['question'] for r in sp['test']}

def _hash_outputs():
    t = OfflineTeacher(step_error=0.2, answer_error=0.1, truncation=0.1, seed=4)
    out = []
    for name in SYNTH_TASKS:
        for r in generate(name, 5, seed=2):
            out += [t.complete_text(REASON.format(q=r['question']), 0.7, j) for j in range(3)]
    return hashlib.sha256(json.dumps([generate(n, 5, seed=2) for n in SYNTH_TASKS] + out).encode()).hexdigest()

def test_same_seed_same_outputs_across_processes():
    code = 'import sys; sys.path.insert(0, "tests"); from test_synthetic import _hash_outputs; print(_hash_outputs())'
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    other = subprocess.run([sys.executable, '-c', code], cwd=root, capture_output=True, text=True,
                           env={**os.environ, 'PYTHONHASHSEED': '12345'}, check=True).stdout.strip()
    assert other == _hash_outputs()

# ---------------------------------------------------------------- the offline teacher
@pytest.mark.parametrize('name', TASKS)
def test_diverse_when_sampling_single_when_greedy(name):
    t = OfflineTeacher(seed=0)
    distinct = []
    for r in generate(name, 20, seed=1):
        p = REASON.format(q=r['question'])
        assert len({t.complete_text(p, 0.0, j) for j in range(8)}) == 1
        distinct.append(len({t.complete_text(p, 0.7, j)[0] for j in range(8)}))
    assert sum(distinct) / len(distinct) >= 4 and min(distinct) >= 2, distinct

@pytest.mark.parametrize('name', TASKS)
def test_clean_teacher_is_always_right(name):
    t = OfflineTeacher()
    for r in generate(name, 40, seed=2):
        for x in t.rationales(r, n=3, temperature=0.7):
            assert x.flaw is None and x.finish_reason == 'stop' and x.answer == r['answer'] == x.gold

def test_error_rates_as_configured():
    t = OfflineTeacher(step_error=0.15, answer_error=0.1, truncation=0.05, seed=2)
    rs = [x for name in TASKS for r in generate(name, 100, seed=4) for x in t.rationales(r, n=4, temperature=0.7)]
    n, c = len(rs), Counter(x.flaw for x in rs)
    assert abs(c['step'] / n - 0.15) < 0.03 and abs(c['answer'] / n - 0.10) < 0.03 and abs(c['truncation'] / n - 0.05) < 0.02, c
    assert sum(x.finish_reason == 'length' for x in rs if x.flaw != 'truncation') < 0.01 * n   # few rationales exceed 128 tokens
    for x in rs:
        if x.finish_reason == 'length' and x.flaw != 'truncation': continue   # cut at max_tokens: its stated answer is lost
        if x.flaw in ('step', 'answer'): assert x.answer != x.gold and x.finish_reason == 'stop'
        if x.flaw is None: assert x.answer == x.gold and x.finish_reason == 'stop'
        if x.flaw == 'truncation': assert x.finish_reason == 'length' and not re.search(r'answer is', x.text)
    # a wrong step shows in the steps, not only in the stated answer: the flawed text differs from every clean sample
    clean = OfflineTeacher(seed=2)
    step = [x for x in rs if x.flaw == 'step' and x.task == 'synth_arithmetic'][:20]
    assert step and all(re.search(r'(\d+) [+\-x/] (\d+) = (\d+)', x.text) for x in step)
    bad_eq = lambda s: any(eval(f'{a}{op.replace("x", "*").replace("/", "//")}{b}') != int(c)
                           for a, op, b, c in re.findall(r'(\d+) ([+\-x/]) (\d+) = (\d+)', s))
    assert sum(bad_eq(x.text) for x in step) >= len(step) // 2   # most step errors are arithmetic slips visible in the text

def test_greedy_mistakes_belong_to_questions_and_correlation():
    t = OfflineTeacher(step_error=0.3, seed=1)
    recs = generate('synth_coin_flip', 200, seed=9)
    for r in recs[:30]: assert len({t.explain(r['question'], 0.0, j).flaw for j in range(4)}) == 1
    def mixed(teacher):  # questions whose 8 samples include both flawed and clean rationales
        return sum(len({x.flaw for x in teacher.rationales(r, 8, 0.7)}) > 1 for r in recs)
    assert mixed(OfflineTeacher(step_error=0.3, correlation=1.0, seed=1)) == 0
    assert mixed(OfflineTeacher(step_error=0.3, correlation=0.0, seed=1)) > 100

def test_truncation_flagged_and_max_tokens():
    t = OfflineTeacher(truncation=1.0)
    r = generate('synth_shuffled_objects', 1, seed=0)[0]
    full = OfflineTeacher().explain(r['question']).text
    text, fin = t.complete_text(REASON.format(q=r['question']))
    assert fin == 'length' and len(text) < len(full) and full.startswith(text)
    text, fin = OfflineTeacher().complete_text(REASON.format(q=r['question']), max_tokens=20)
    assert fin == 'length' and count_tokens(text) == 20
    long = generate('synth_shuffled_objects', 5, n_objects=7, n_swaps=12)
    assert all(OfflineTeacher().explain(x['question'], max_tokens=128).finish_reason == 'length' for x in long)

@pytest.mark.parametrize('name', TASKS)
def test_rationale_lengths(name):
    t = OfflineTeacher()
    lens = [count_tokens(x.text) for r in generate(name, 50, seed=6) for x in t.rationales(r, 4, 0.7, max_tokens=None)]
    assert max(lens) <= 128 and sum(lens) / len(lens) >= 25, (max(lens), sum(lens) / len(lens))
    words = [len(x.text.split()) for r in generate(name, 50, seed=6) for x in t.rationales(r, 4, 0.7)]
    assert max(words) < 110

@pytest.mark.parametrize('name', TASKS)
def test_stage2_through_text_matches_rationale(name):
    spec = get_task(name)
    t = OfflineTeacher(step_error=0.2, answer_error=0.2, truncation=0.2, seed=3)
    for r in generate(name, 30, seed=7):
        p1 = REASON.format(q=r['question'])
        for j in range(3):
            text, fin = t.complete_text(p1, 0.7, j)
            ref = t.explain(r['question'], 0.7, j)
            assert (text, fin) == (ref.text, ref.finish_reason)
            ans, fin2 = t.complete_text(p1 + text + '\nTherefore, the answer is')
            assert fin2 == 'stop' and ans.startswith(' ') and ans.endswith('.')
            pred = extract_answer(ans, spec.answer_type, spec.letters, mode='first')
            if ref.answer is not None: assert answers_match(pred, ref.answer, spec.answer_type) and pred is not None
            else: assert pred is not None   # a cut-off rationale still gets an answer (a guess)
            # the paper's task-specific triggers work as well
            ans2, _ = t.complete_text(p1 + text + '\n' + spec.answer_trigger)
            assert ans2 == ans

def test_direct_answers_and_errors():
    recs = generate('synth_arithmetic', 200, seed=1)
    right = sum(OfflineTeacher(direct_error=0.3).complete_text(f"Q: {r['question']}\nA: The answer is")[0] == f" {r['answer']}." for r in recs)
    assert 120 <= right <= 160
    with pytest.raises(FcotError, match='only answers the synthetic'): OfflineTeacher().complete_text("Q: Who wrote Ulysses?\nA: Let's think step by step.")
    with pytest.raises(FcotError, match='between 0 and 1'): OfflineTeacher(truncation=1.5)

def test_plugs_into_sample_zero_shot_cot(tmp_path):
    from fcot.teachers import sample_zero_shot_cot, CotConfig
    t = OfflineTeacher(step_error=0.2, answer_error=0.1, truncation=0.1, seed=0)
    recs = make_split('synth_date', 40, 10, seed=0)['train']
    run = sample_zero_shot_cot(t, recs, 'synth_date', CotConfig(n_samples=4, temperature=0.7), cache=tmp_path/'c.sqlite',
                               out=tmp_path/'t.jsonl', progress=False)
    assert len(run.records) == 160
    by_flaw = Counter()
    for rec in run.records:
        x = t.explain(rec['question'], 0.7, rec['completion_index'])
        assert rec['reasoning_completion'] == x.text and rec['reasoning_finish_reason'] == x.finish_reason
        assert rec['prediction'] == (x.answer or rec['prediction'])
        assert rec['correct'] == (rec['prediction'] == rec['answer'])
        by_flaw[x.flaw, rec['correct']] += 1
        assert rec['teacher'] == t.model and rec['usage']['completion_tokens'] > 0
    assert by_flaw[None, False] == by_flaw['step', True] == by_flaw['answer', True] == 0
    assert 0.5 < run.accuracy < 0.75
    # distinct rationales per question (diverse reasoning), identical on a rerun (served from the cache)
    per_q = Counter(rec['id'] for rec in {(r['id'], r['reasoning_completion']): r for r in run.records}.values())
    assert sum(per_q.values()) / len(per_q) > 2.5
    again = sample_zero_shot_cot(t, recs, 'synth_date', CotConfig(n_samples=4, temperature=0.7), cache=tmp_path/'c.sqlite', progress=False)
    assert again.records == run.records and again.stats.cache_hits == 320

# ---------------------------------------------------------------- surface forms: the real questions parse and solve
def test_real_questions_have_the_same_surface_form(real_data):
    from fcot.tasks import load_task
    objs = load_task('tracking_shuffled_objects', real_data)
    assert all(parse_question(r['question']) and solve_question(r['question']) == r['answer'] for r in objs)
    for task, synth in [('coin_flip', 'synth_coin_flip'), ('last_letter_concatenation', 'synth_last_letters')]:
        recs = load_task(task, real_data)
        single = [r for r in recs if all(' ' not in n for n in re.findall(r'\. ([^.]+?) (?:flips|does not flip)', r['question']))
                  and all(w.isascii() for w in r['question'].split())]
        parsed = [r for r in single if (f := parse_question(r['question'])) and f[0].name == synth]
        assert len(parsed) >= 0.9 * len(single) and len(parsed) > 400
        if synth == 'synth_coin_flip': assert all(solve_question(r['question']) == r['answer'] for r in parsed)


@pytest.mark.parametrize('name', ['synth_addition', 'synth_multiplication'])
def test_sloppy_rationales_are_wrong_inside_and_right_at_the_end(name):
    "A sloppy rationale has a column whose stated sum is wrong, yet reaches the gold answer, so curation keeps it."
    t = OfflineTeacher(sloppy=0.4, seed=3)
    rs = [t.explain(r['question'], 0.7, j) for r in generate(name, 100, seed=5) for j in range(2)]
    sloppy = [r for r in rs if r.flaw == 'sloppy']
    assert 0.3 < len(sloppy) / len(rs) < 0.5 and all(r.answer == r.gold for r in rs)
    def bad_column(text):   # some 'x + y (+ c) = s' or 'x * y (+ c) = s' that does not hold
        for expr, s in re.findall(r'((?:\d+ [+*] )+\d+(?: \+ \d+)?) = (\d+) ,', text):
            if eval(expr) != int(s): return True
        return False
    assert all(bad_column(r.text) for r in sloppy) and not any(bad_column(r.text) for r in rs if r.flaw is None)
    assert OfflineTeacher(sloppy=0.4, seed=3).model.endswith(',sloppy=0.4)') and 'sloppy' not in OfflineTeacher().model
