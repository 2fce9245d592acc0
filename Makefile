# Every target that runs code depends on `install`, so a fresh clone needs nothing else.
SHELL := /bin/bash
PY_SYS ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PROTOS := $(shell find protos -name '*.proto')
GEN_STAMP := tokens/.generated
export PYTHONPATH := $(CURDIR)

.PHONY: install proto node test run bench reliability audit clean

install: $(VENV)/.installed $(GEN_STAMP) node

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v $(PY_SYS) >/dev/null || { echo "needs $(PY_SYS)"; exit 1; }
	$(PY_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==25.3
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# Generated protobuf code is not committed: it is built here, before anything imports it.
proto: $(GEN_STAMP)
$(GEN_STAMP): $(PROTOS) $(VENV)/.installed
	rm -rf tokens
	$(PY) -m grpc_tools.protoc -I protos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	touch $@

node: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: install
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

reliability: install
	$(PY) -m pytest -q -p no:cacheprovider tests/reliability

run: install
	$(PY) -m devstack

bench: install
	$(PY) -m bench

audit: install
	$(PY) -m profile_service audit

clean:
	rm -rf $(VENV) tokens node_modules
