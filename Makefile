# Two commands a newcomer needs: `make demo` and `make test`. Both build or refresh the
# virtual environment in .venv first, and do nothing more when it is already current.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv system-deps constraints

$(STAMP): requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	@touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests need (headless Chromium for the browser test).
system-deps:
	@scripts/system-deps

# `make demo SIMULATE=30` also lets 30 simulated participants take the survey and writes
# the analysis report (SIMULATE= with no number is ignored).
demo: $(STAMP)
	@SIMULATE=$(SIMULATE) scripts/demo

test: $(STAMP) system-deps
	@scripts/test

# After changing requirements.txt: re-pin every transitive package from a fresh resolve.
constraints:
	rm -rf .venv-constraints && $(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet -r requirements.txt
	(echo "# Every transitive package, pinned (pip freeze of a working install). Regenerate with"; \
	 echo "# 'make constraints' after changing requirements.txt."; \
	 .venv-constraints/bin/pip freeze | grep -v '^-e' | sed 's/^torch==\(.*\)+cpu$$/torch==\1/') > constraints.txt
	rm -rf .venv-constraints
