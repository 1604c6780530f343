# fcot: the two things a fresh machine needs are `make demo` (the main job) and `make test`.
.PHONY: install test demo report export clean-nbs
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
	$(PY) -m pytest -q -rs tests/

demo: install
	.venv/bin/fcot reproduce --preset cpu --fresh

report: install
	.venv/bin/fcot report recorded_teacher
