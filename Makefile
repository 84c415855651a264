# Developer tasks. Every target runs from the repository root; uv installs what it needs.
# `make help` lists them.
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
UV := cd backend && uv run

.PHONY: help demo lint format test-fast test ci bench clean-db

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

demo: ## the main job: load the sample runs, build the marts, print the summary and report
	$(UV) qc demo

lint: ## ruff, ruff format --check, mypy, structure limits, sqlfluff (what CI checks)
	$(UV) ruff check src tests tools
	$(UV) ruff format --check src tests tools
	$(UV) mypy src tools
	$(UV) python tools/check_structure.py
	cd backend/dbt && uv run sqlfluff lint

format: ## apply ruff's fixes and formatting
	$(UV) ruff check --fix src tests tools
	$(UV) ruff format src tests tools

test-fast: ## the inner loop: every test that does not run dbt (about a minute)
	$(UV) pytest -m "not dbt and not server"

test: ## the whole suite, as CI runs it
	$(UV) pytest

ci: ## exactly what CI runs, on this checkout
	bash .ci/run

bench: ## the reference benchmark at M (a few minutes)
	$(UV) qc bench --size M

clean-db: ## stop the embedded server and delete its data (qc db destroy), then backend/.qc
	$(UV) qc db destroy --yes
	rm -rf backend/.qc
