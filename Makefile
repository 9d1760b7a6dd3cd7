# Two commands: `make run` serves the exchange, `make test` runs the suite.
# With DATABASE_URL / REDIS_URL unset both use an embedded PostgreSQL and Redis under ./var/.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EMBED := $(BIN)/python -m exchange.embedded --

.PHONY: install run test lint bench stop-embedded clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(EMBED) $(BIN)/python manage.py serve

test: install
	CACHE_PREFIX=test $(EMBED) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy orders/engine

bench: install
	@mkdir -p var
	$(EMBED) sh -c '$(BIN)/python bench/engine_core.py && $(BIN)/python bench/engine_loop.py | tee var/bench_engine_loop.txt && $(BIN)/python bench/http_orders.py | tee var/bench_http_orders.txt'
	@# the two figures the issue reads, last
	@tail -n 1 var/bench_engine_loop.txt
	@tail -n 1 var/bench_http_orders.txt

stop-embedded: install
	$(BIN)/python -m exchange.embedded stop

clean:
	rm -rf $(VENV) var
