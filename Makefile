# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

# The virtual environment. Debian ships venv's pip bootstrap separately (python3-venv):
# install it when we can (root), or say exactly what to run.
$(BIN)/python:
	@if ! $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing python3-venv (Debian keeps venv's pip bootstrap there)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	  else \
	    echo "error: $(PYTHON) cannot create a virtual environment; run: sudo apt-get install python3-venv" >&2; \
	    exit 2; \
	  fi; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# setuptools says "Editable installation. Please be careful with folders in your working directory
# with the same name as your package" on every editable install of any project (an InformationOnly
# notice, not about this project's packaging): that notice alone is filtered. Any other warning
# still shows, and tests/test_install.py fails on any warning the project's packaging causes.
EDITABLE_QUIET := PYTHONWARNINGS='ignore:Editable installation'

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(EDITABLE_QUIET) $(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(EDITABLE_QUIET) $(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

demo: $(VENV)/.installed
	$(BIN)/diagnose analyze fixtures/aiortc-call.perf.txt.gz

# The suite runs on up to 4 CPUs (pytest-xdist), a test file per worker at a time so that each
# file's expensive module fixtures are made once: `make test TEST_JOBS=1` runs it in one process.
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 4 ] && n=4; echo $$n)

# lint-imports first: the import direction of the stages (pyproject.toml [tool.importlinter]).
test: $(VENV)/.installed-test
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile

bench: $(VENV)/.installed
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_rules.py
	$(BIN)/python bench/bench_flamegraph.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
