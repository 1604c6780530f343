# fcot: the two things a fresh machine needs are `make demo` (the main job) and `make test`.
.PHONY: install test demo reproduce report export clean-nbs docs
PRESET ?= cpu
PY := .venv/bin/python

.venv/.installed: setup.py settings.ini install.sh
	./install.sh
	touch $@

install: .venv/.installed

export: install
	.venv/bin/nbdev_export

clean-nbs: install
	.venv/bin/nbdev_clean

test: install
	tools/check_export.sh
	$(PY) tools/build_docs.py --check
	$(PY) -m pytest -q -rs tests/

demo: install
	.venv/bin/fcot reproduce --preset cpu --fresh

# any preset: make reproduce PRESET=recorded (real tasks, recorded teacher; CPU), PRESET=paper (GPU; try FLAGS=--dry-run first)
reproduce: install
	.venv/bin/fcot reproduce --preset $(PRESET) $(FLAGS)

report: install
	.venv/bin/fcot report recorded_teacher --preset recorded

# the documentation site, into _docs/ (and README.md from nbs/index.ipynb)
docs: install
	$(PY) tools/build_docs.py
