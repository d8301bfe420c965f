# Two commands do all the set-up on a fresh machine with Python 3.11+ and make:
#   make run    create .venv, install, generate the synthetic dataset, start the dashboard
#   make test   create .venv, install test needs, run the whole suite
# Both are re-runnable and do nothing that is already done.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
ADDRESS ?= localhost
DATA   := data/synthetic
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test test-fast install install-dev data demo-model bench bench-quick lint clean-data help
.DEFAULT_GOAL := help

help:
	@echo "make run    - install (first time), generate the synthetic dataset, start the dashboard"
	@echo "make test   - install test needs (first time) and run the whole test suite"
	@echo "make lint   - pyflakes checks (undefined names, unused imports) over the project"
	@echo "make test-fast - the quick loop: every test not marked slow or e2e (a few minutes)"
	@echo "make bench  - run the benchmarks and print their table (make bench-quick: the short versions)"
	@echo "make demo-model - retrain the demo model in assets/ (about 20 minutes on 2 cores)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The synthetic default dataset (CIHP layout). The marker file is written last,
# so an interrupted generation is redone.
$(DATA)/.complete: | $(VENV)/.installed
	$(PY) -m seglib data synth --out $(DATA) --default

data: $(DATA)/.complete

run: $(VENV)/.installed $(DATA)/.complete
	@echo ""
	@echo "  Dashboard: http://$(ADDRESS):$(PORT)   (Ctrl+C to stop)"
	@echo ""
	$(VENV)/bin/streamlit run dashboard.py --server.port $(PORT) --server.address $(ADDRESS) \
		--server.headless true --browser.gatherUsageStats false

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick loop while editing: leaves out the tests marked slow (real training, AppTest of a
# whole page, subprocesses) and the browser tests. `make test` still runs everything.
test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not slow and not e2e" $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed-dev $(DATA)/.complete
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

bench-quick: $(VENV)/.installed-dev $(DATA)/.complete
	$(PY) benchmarks/run_all.py --quick $(BENCH_ARGS)

demo-model: $(VENV)/.installed $(DATA)/.complete
	$(PY) -m seglib demo-model --out assets/demo_model

clean-data:
	rm -rf $(DATA)
