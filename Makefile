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

.PHONY: demo test lint gpu-test system-deps
# Graphviz's `dot` draws the graph pictures and a word list feeds the char-LM example: installed with
# apt-get when they are missing and this runs as root on Debian/Ubuntu; elsewhere a hint is printed
# (without them the demo writes DOT text instead of SVG, and those tests skip). Chromium runs the
# explorer page's browser tests (tests/browser; they skip without it).
system-deps:
	@if command -v dot >/dev/null 2>&1 && [ -e /usr/share/dict/words ] && command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz wamerican chromium >/dev/null; \
	else echo "note: install Graphviz (apt-get install graphviz / brew install graphviz) for SVG pictures"; fi

demo: system-deps $(VENV)/.installed
	$(BIN)/tinygrad-rnn demo $(ARGS)

test: system-deps $(VENV)/.torch
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check tinygrad_rnn tests examples bench docs

gpu-test:
	PYTHONPATH=. python3 -m pytest -q -m gpu tests
