# Quick start: `make demo` and `make test` do all set-up themselves (a virtualenv in .venv).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

# Re-install only when the pinned requirements or the project metadata change.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The HTML report's browser test needs Chromium (Debian's package): installed once, when apt can.
BROWSER := $(VENV)/.chromium
$(BROWSER): | $(STAMP)
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "note: chromium could not be installed; the report's browser test will be skipped"
	touch $(BROWSER)

# The Slurm tests start real daemons (Debian's slurmctld, slurmd, munge) on localhost: installed once, when apt can.
SLURM := $(VENV)/.slurm
$(SLURM): | $(STAMP)
	bash scripts/slurm_local.sh install || echo "note: Slurm could not be installed; the Slurm tests will be skipped"
	touch $(SLURM)

demo: $(STAMP)
	$(PY) -m nnperf demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

test: $(STAMP) $(BROWSER) $(SLURM) lint
	$(PY) -m pytest -q --durations=15

bench: $(STAMP)
	$(PY) benchmarks/bench_gpt3_175b.py
	$(PY) benchmarks/bench_vs_torchinfo.py
	$(PY) benchmarks/bench_triad_vs_c.py
	$(PY) benchmarks/bench_gemm_vs_numpy.py
	$(PY) benchmarks/bench_machine_quick.py
	$(PY) benchmarks/bench_predict_vs_measured.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
