# Two commands: `make demo` (the main job on the embedded data) and
# `make test`. Both create or reuse .venv; a second run skips set-up.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dckd_mm-installed
DEPS := requirements/torch.txt requirements/runtime.txt \
	requirements/lock.txt requirements/tests.txt setup.py \
	.dev_scripts/build_mmcv.sh

.PHONY: demo test venv lint clean-venv

demo: $(STAMP)
	$(PY) tools/demo.py

test: $(STAMP)
	$(PY) -m pytest tests

venv: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stack order: torch, the locked OpenMMLab stack (without mmcv), mmcv with
# ops from the cached wheel (built once, ~25 min on 2 cores), the plugin.
$(STAMP): $(DEPS) | $(PY)
	@echo "[make] setting up $(VENV)"
	$(PY) -m pip install -q --disable-pip-version-check \
		-r requirements/torch.txt
	$(PY) -m pip install -q --disable-pip-version-check \
		-r requirements/lock.txt -r requirements/runtime.txt \
		-r requirements/tests.txt
	bash .dev_scripts/build_mmcv.sh $(PY)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	$(PY) -c "import dckd_mm, mmrazor.models, mmrazor.engine, mmdet.models; from mmcv.ops import nms; print('[make] environment OK')"
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m flake8 dckd_mm tools tests configs setup.py
	$(PY) -m isort --check-only dckd_mm tools tests setup.py

clean-venv:
	rm -rf $(VENV)
