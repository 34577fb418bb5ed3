# Genesis: `make run` (embedded demo) and `make test` (the whole suite) work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run run-full test lint bench vendor clean validate validate-quick validate-security validate-performance coverage

$(STAMP): requirements/base.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

## run: embedded mode (SQLite, in-memory layer, in-process scheduler) on 127.0.0.1
run: $(STAMP)
	env -u DATABASE_URL -u REDIS_URL $(PY) manage.py serve --port $(PORT)

## run-full: web, celery worker and celery beat as separate processes (needs DATABASE_URL, REDIS_URL)
run-full: $(STAMP)
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" || { echo "run-full needs DATABASE_URL and REDIS_URL"; exit 2; }
	PY=$(PY) PORT=$(PORT) bash deploy/run-full.sh

## test: the whole suite; PostgreSQL/Redis tests run when DATABASE_URL/REDIS_URL are set
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest --junitxml=var/reports/junit.xml

## coverage: the whole suite under coverage.py; the coverage validator (TECH-001) reads .coverage
coverage: $(STAMP)
	$(PY) -m coverage run -m pytest -q --junitxml=var/reports/junit.xml

## validate: the standard suite (SPEC V6) on fresh coverage and test reports; exits 1 on NO-GO
validate: coverage
	$(PY) manage.py validate --mode standard $(VALIDATE_ARGS)

## validate-quick: smoke checks in seconds
validate-quick: $(STAMP)
	$(PY) manage.py validate --mode quick $(VALIDATE_ARGS)

validate-security: $(STAMP)
	$(PY) manage.py validate --mode standard --only security $(VALIDATE_ARGS)

validate-performance: $(STAMP)
	$(PY) manage.py validate --mode standard --only performance $(VALIDATE_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(STAMP)
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do $(PY) $$b; done || echo "no benchmarks yet"

## vendor: refresh browser assets from the npm registry into static/vendor (committed)
vendor:
	cd $$(mktemp -d) && npm pack uplot@1.6.32 >/dev/null && tar xzf uplot-*.tgz && \
	  cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE $(CURDIR)/static/vendor/uplot/

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
