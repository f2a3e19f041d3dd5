# Set-up and everyday commands. Each target creates or reuses .venv and installs
# what it needs; torch is pinned to the CPU build through constraints.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test docs bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,docs,distributed,accelerate,safetensors,onnx]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/plot_bit_counting.py

# the whole suite: unit tests, doctests, the import-linter layering contracts
# (pyproject.toml) and the documentation build (its gallery runs every example
# in quick mode)
test: $(STAMP)
	$(PY) -m pytest
	$(VENV)/bin/lint-imports
	$(MAKE) docs

docs: $(STAMP)
	rm -rf docs/generated
	timeout 600 $(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

bench: $(STAMP)
	$(PY) benchmarks/bench_bit_counting.py

clean:
	rm -rf $(VENV) docs/_build docs/auto_examples docs/generated
