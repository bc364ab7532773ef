# LumboPlan: `make run` opens the application, `make test` runs the whole suite.
# Both set everything up first: system libraries (apt-get, only what is missing), the virtual
# environment in .venv and the Python dependencies (reinstalled when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SYSTEM_DEPS := $(VENV)/.system-deps
PYTEST_ARGS ?=
# `make test` spreads the test files over the cores (pytest-xdist; at most four workers, each
# holds a model and a window); `make test PARALLEL=` runs them one after another.
PARALLEL ?= -n auto --maxprocesses 4 --dist loadfile
# The bundled demo case: made by `lumboplan phantom resources/demo --seed 57 --demo --dicom --preview`.
DEMO := resources/demo/case_00057/dicom

# Run under a virtual X server where there is no screen (CI, SSH): VTK and Qt then have a
# display; Qt widgets in tests still use the offscreen platform that tests/conftest.py sets.
ifeq ($(strip $(DISPLAY)$(WAYLAND_DISPLAY)),)
HEADLESS := xvfb-run -a -s "-screen 0 1920x1080x24"
else
HEADLESS :=
endif

.PHONY: all venv system-deps run test test-fast lint format typecheck bench wheel-check installer \
	installer-check installer-check-deb installer-ci clean

all: test

system-deps: $(SYSTEM_DEPS)
$(SYSTEM_DEPS): scripts/install-system-deps.sh
	@mkdir -p $(VENV)
	scripts/install-system-deps.sh
	@touch $@

venv: $(INSTALLED)
$(INSTALLED): pyproject.toml $(SYSTEM_DEPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train,study]'
	@touch $@

run: venv
	@if [ "$$(uname)" = "Linux" ] && [ -z "$(DISPLAY)$(WAYLAND_DISPLAY)" ]; then \
		echo "make run: no screen here (DISPLAY is not set). On a desktop, run it there;" \
		     "headless, try: xvfb-run -a make run"; exit 1; fi
	$(BIN)/lumboplan-gui $(DEMO)

test: venv
	$(HEADLESS) $(BIN)/python -m pytest $(PARALLEL) $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not gui" $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: venv
	$(BIN)/mypy

bench: venv
	$(HEADLESS) $(BIN)/python benchmarks/run.py

# Build the wheel, install it into a fresh environment and run it there: catches package data
# (the model, the demo, the style sheet) or modules that work from the source tree but are
# missing from the installed package. The wheel goes in without its dependencies; the fresh
# environment sees those of .venv through a .pth file (no download), not .venv's editable
# LumboPlan (a .pth inside a folder a .pth adds is not run).
wheel-check: venv
	rm -rf build/wheel-check && mkdir -p build/wheel-check
	$(BIN)/python -m pip wheel --quiet --no-deps -w build/wheel-check .
	$(BIN)/python -m venv build/wheel-check/venv
	build/wheel-check/venv/bin/python -m pip install --quiet --no-deps build/wheel-check/*.whl
	$(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
		> "$$(build/wheel-check/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/lumboplan-deps.pth"
	build/wheel-check/venv/bin/lumboplan --help >/dev/null
	cd build/wheel-check && $(HEADLESS) venv/bin/python ../../scripts/smoke_installed.py

# The Linux installers (dist/installer/: a .deb and a makeself .run) from a PyInstaller bundle
# built in its own environment, build/installer-venv (installer/requirements.txt, no torch).
# A few CPU-minutes; not part of `make test`. docs/installer.md has the Windows build.
installer: system-deps
	installer/build.sh

# Install the .run into a temporary prefix without network and with an empty environment, and
# run the installed app there: --version, the demo from scan to report, the window under Xvfb.
installer-check: system-deps
	installer/check.sh

# CI's check of the installers (.ci/run): the bundle and both packages built as a release is
# (gzip -1 instead of xz -6, minutes faster), then the .run checked as above. About 5 minutes.
installer-ci: system-deps
	COMPRESSION=fast installer/build.sh
	installer/check.sh

# Install the .deb into a clean Debian root (debootstrap, minbase; needs root and the Debian
# mirror) and run the installed app's --selftest there, without network: a system library the
# .deb does not depend on is missing there.
installer-check-deb:
	installer/check-deb.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
