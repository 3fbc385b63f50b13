# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, install tinygrad-rnn with its extras, run `tinygrad-rnn demo`
#   make test   - create .venv, install the package, test tools and PyTorch (the reference), run the tests
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,viz,examples]'
	touch $@

$(VENV)/.torch: $(VENV)/.installed
	$(BIN)/python -m pip install -q $(TORCH)
	touch $@

.PHONY: demo test lint gpu-test
demo: $(VENV)/.installed
	$(BIN)/tinygrad-rnn demo $(ARGS)

test: $(VENV)/.torch
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check tinygrad_rnn tests examples bench docs

gpu-test:
	PYTHONPATH=. python3 -m pytest -q -m gpu tests
