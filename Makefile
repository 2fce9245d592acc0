# Every target that runs code depends on `install`, so a fresh clone needs nothing else.
SHELL := /bin/bash
# Python 3.11: python3.11 if present, else python3 (checked below).
PY_SYS ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PROTOS := $(shell find protos -name '*.proto')
GEN_STAMP := tokens/.generated
export PYTHONPATH := $(CURDIR):$(CURDIR)/clients/python

.PHONY: install proto node lint test test-unit run bench reliability audit clean

# The venv, pinned dependencies and generated protobuf code. `make test` also installs the npm test tools.
install: $(VENV)/.installed $(GEN_STAMP)

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PY_SYS) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
		|| { echo "Python 3.11 is needed (found: $(PY_SYS)); set PY_SYS=/path/to/python3.11"; exit 1; }
	$(PY_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==25.3
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# Generated protobuf code is not committed: it is built here, before anything imports it.
proto: $(GEN_STAMP)
$(GEN_STAMP): $(PROTOS) $(VENV)/.installed
	rm -rf tokens
	$(PY) -m grpc_tools.protoc -I protos --python_out=. --grpc_python_out=. \
		--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy --mypy_out=. \
		--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc --mypy_grpc_out=. $(PROTOS)
	$(PY) protos/generate_contract.py tokens/contract_rules.py
	touch $@

node: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The quality gate: formatting, lint and types. `make test` runs it first, so CI enforces it.
LINT_PATHS := profile_service billing_service gateway service_kit clients/python/tokens_client
lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(LINT_PATHS)

test: lint node
	$(PY) -m pytest -q -p no:cacheprovider -rs $(PYTEST_ARGS)

# The domain layers alone, with fakes: seconds, no server.
test-unit: install
	$(PY) -m pytest -q -p no:cacheprovider tests/unit

reliability: install
	$(PY) -m pytest -q -p no:cacheprovider tests/reliability

run: install
	$(PY) -m devtools.devstack

bench: install
	$(PY) -m bench

audit: install
	$(PY) -m profile_service audit

clean:
	rm -rf $(VENV) tokens node_modules
