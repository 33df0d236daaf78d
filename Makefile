# Two commands: `make demo` (the main job on the embedded data) and
# `make test` (both test lanes). Both create or reuse their virtual
# environments; a second run skips set-up (stamps in each venv).
#
#   .venv       current lane: Python 3.11, torch 2.14.1. `make demo` needs
#               classification only (mmcv-lite, nothing compiled); `make
#               test` then adds mmcv's compiled ops (built once, cached in
#               ~/.cache/dckd_mm/wheels) and mmdet for the detection tests.
#   .venv-py39  oldest lane: Python 3.9, torch 2.1.2, mmcv-lite: every test
#               that needs no mmcv.ops (pytest -m "not detection").
PYTHON ?= $(shell .dev_scripts/find_python.sh 3.11)
PYTHON39 ?= $(shell .dev_scripts/find_python.sh 3.9)
VENV := .venv
VENV39 := .venv-py39
PY := $(VENV)/bin/python
PY39 := $(VENV39)/bin/python
PIP_FLAGS := -q --disable-pip-version-check
MMCV_LITE := mmcv-lite==2.1.0
BASE := $(VENV)/.dckd_mm-base
FULL := $(VENV)/.dckd_mm-installed
OLDEST := $(VENV39)/.dckd_mm-installed

.PHONY: demo test test-current test-oldest unit venv lint clean-venv

demo: $(BASE)
	$(PY) tools/demo.py

# Both lanes, set up one after the other, then tested side by side (one
# core each); each lane's output is printed when it ends.
test: $(FULL) $(OLDEST)
	$(MAKE) --no-print-directory -j2 --output-sync=target \
		test-current test-oldest

test-current: $(FULL)
	$(PY) -m pytest tests

test-oldest: $(OLDEST)
	$(PY39) -m pytest tests -m "not detection" \
		--basetemp="$${TMPDIR:-/tmp}/dckd_mm-pytest-py39"

# the fast unit layer only (no end-to-end runs)
unit: $(FULL)
	$(PY) -m pytest tests -m "not e2e"

venv: $(FULL) $(OLDEST)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(PY39):
	$(PYTHON39) -m venv $(VENV39)

# Classification: torch, the locked stack, mmcv-lite unless an mmcv is
# already there (never replace one with compiled ops), the plugin.
$(BASE): requirements/torch.txt requirements/lock.txt setup.py | $(PY)
	@echo "[make] setting up $(VENV) (classification)"
	$(PY) -m pip install $(PIP_FLAGS) -r requirements/torch.txt
	$(PY) -m pip install $(PIP_FLAGS) -r requirements/lock.txt
	$(PY) -c "import mmcv" 2>/dev/null || \
		$(PY) -m pip install $(PIP_FLAGS) --no-deps $(MMCV_LITE)
	$(PY) -m pip install $(PIP_FLAGS) --no-build-isolation -e .
	$(PY) -c "import dckd_mm, mmrazor.models; print('[make] classification OK')"
	touch $(BASE)

# Detection: mmcv with compiled ops (the cached wheel, built once: about
# 15-25 min on 2 cores) replaces mmcv-lite, then mmdet.
$(FULL): $(BASE) requirements/lock-detection.txt .dev_scripts/build_mmcv.sh
	bash .dev_scripts/build_mmcv.sh $(PY)
	$(PY) -m pip install $(PIP_FLAGS) --no-deps -r requirements/lock-detection.txt
	$(PY) -c "import dckd_mm, mmdet.models; from mmcv.ops import nms; print('[make] detection OK')"
	touch $(FULL)

# The oldest lane: torch first, then the locked stack with mmcv-lite; then
# dckd_mm is installed as a user would (`pip install .`, then `-e .`, with
# dependencies), checking that torch and mmcv stay exactly as they were.
$(OLDEST): requirements/torch-py39.txt requirements/lock-py39.txt setup.py \
		.dev_scripts/install_unchanged.sh | $(PY39)
	@echo "[make] setting up $(VENV39) (oldest lane)"
	$(PY39) -m pip install $(PIP_FLAGS) -r requirements/torch-py39.txt
	$(PY39) -m pip install $(PIP_FLAGS) -r requirements/lock-py39.txt
	bash .dev_scripts/install_unchanged.sh $(PY39)
	$(PY39) -c "import dckd_mm, mmrazor.models; print('[make] oldest lane OK')"
	touch $(OLDEST)

lint: $(BASE)
	$(PY) -m flake8 dckd_mm tools tests configs setup.py
	$(PY) -m isort --check-only dckd_mm tools tests setup.py

clean-venv:
	rm -rf $(VENV) $(VENV39)
