# The index of what can be done here: `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed-requirements
SERVE_ADDR := 127.0.0.1:8765
# Set on the command line only (`make mirror LISTEN=... ONLY=...`, `make serve
# SERVE_ADDR=...`): a variable that happens to be in the environment must not
# choose where the mirror or the preview is served, nor what the room gets.
LISTEN := 127.0.0.1
ONLY :=
ROOM_PORT := 8700
SEATS := 0
SEAT_MEMORY := 2g
SWARM :=
# Each engine address of SWARM, quoted on its own.
SWARM_ARGS = $(if $(value SWARM),--swarm $(foreach engine,$(value SWARM),'$(subst ','\'',$(engine))'))
# Which images `make images` also makes for the room's second CPU (arm64
# beside amd64; amd64 on an arm64 machine): hello-world (the default:
# seconds), all (what `make mirror` asks for: about 15 min the first time
# without Docker Hub, a few with it), or none.
MULTIARCH := hello-world
# The dockerd `make engine` starts (when no engine answers) listens on a socket
# of its own, never the system's; while that socket exists, every target talks
# to it. Evaluated per command, so targets after `engine` in one run see it. A
# DOCKER_HOST of your own wins.
# An empty DOCKER_HOST (as a parent make exports it before the engine is up)
# names no engine.
ENGINE_SOCKET := $(or $(INTRO_DOCKER_CACHE),$(HOME)/.cache/intro-to-docker)/run/docker.sock
ifeq ($(strip $(DOCKER_HOST)),)
export DOCKER_HOST = $(shell test -S $(ENGINE_SOCKET) && echo unix://$(ENGINE_SOCKET))
endif

.DEFAULT_GOAL := help
.PHONY: help venv serve engine engine-stop images mirror lint unit check integration workflow build doctest journey check-record browser-deps browser site site-image zensical test bench clean room room-stop seat-web

help: ## list every target with what it does
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

venv: $(VENV_STAMP) ## create .venv, install the pinned requirements.txt and the doc-test plugin

# --no-compile: a module is compiled when first imported instead (a third of
# the install's time went to compiling every module of every package: 34 s
# against 25 s on 2 cores, the packages in pip's cache).
$(VENV_STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .  # the doc-test plugin, as any project installs it
	@touch $@

serve: venv ## preview the site with live reload on http://127.0.0.1:8765
	$(VENV)/bin/mkdocs serve --dev-addr '$(subst ','\'',$(value SERVE_ADDR))'

engine: venv ## reuse or start a Docker engine and the local registry mirror (127.0.0.1:5000)
	$(PY) -m bringup engine

engine-stop: venv ## reap what killed doc-test runs left, then stop only what `make engine` started
	-$(PY) -m doctester reap --ini pytest.ini  # the labels and state folder pytest.ini gives the runs
	$(PY) -m bringup engine-stop

images: engine ## put the tutorial's images into the mirror (built offline when Docker Hub is unreachable; MULTIARCH=all: for the other CPU too)
	$(PY) -m bringup images --multiarch '$(subst ','\'',$(value MULTIARCH))'

mirror: MULTIARCH := all

mirror: images ## organizers: serve the workshop's images to the room over HTTPS, e.g. `make mirror LISTEN=192.168.1.20` (ONLY="hello-world python:alpine": those alone)
# $(value ...) keeps make from expanding a `$` in it; the quotes keep the shell
# from splitting or running any of it: bringup gets the text as one argument.
	$(PY) -m bringup mirror --listen '$(subst ','\'',$(value LISTEN))' $(if $(value ONLY),--only $(foreach image,$(value ONLY),'$(subst ','\'',$(image))'))

room: venv build $(if $(filter-out 0,$(value SEATS)),seat-web images) ## organizers: serve the site, SEATS login cards each with a Docker terminal beside the tutorial, and the board of checks, e.g. `make room LISTEN=192.168.1.20 SEATS=8` (ROOM_PORT=8700; SWARM="ENGINE ...": seats placed by Docker Swarm, the manager's engine address first)
	$(PY) -m bringup.roomserver --listen '$(subst ','\'',$(value LISTEN))' --port '$(subst ','\'',$(value ROOM_PORT))' --seats '$(subst ','\'',$(value SEATS))' --seat-memory '$(subst ','\'',$(value SEAT_MEMORY))' $(SWARM_ARGS)

room-stop: venv ## stop the room (it removes its seats) and remove what a killed room left (SWARM=...: on that Swarm too)
	$(PY) -m bringup.roomserver stop $(SWARM_ARGS)

# Its own .PHONY line: the shared one above is other targets' to edit. ROOM
# (the room server's IP:PORT) and SEAT_IMAGE, like the variables at the top,
# come from the command line only, never from the environment.
.PHONY: room-kubernetes
ROOM :=
SEAT_IMAGE :=
CLOSED :=
room-kubernetes: venv ## organizers: a room bigger than one machine, a Pod per seat for a Kubernetes cluster, as YAML in build/room-kubernetes checked against the API schema, e.g. `make room-kubernetes SEATS=40 ROOM=192.168.1.20:8700` (SEAT_IMAGE=: the sandbox image as the nodes pull it; CLOSED="CIDR ...": public networks seats may not reach)
	$(PY) -m bringup.kubeseats --seats '$(subst ','\'',$(value SEATS))' --room '$(subst ','\'',$(value ROOM))' --seat-memory '$(subst ','\'',$(value SEAT_MEMORY))' --out build/room-kubernetes $(if $(value SEAT_IMAGE),--image '$(subst ','\'',$(value SEAT_IMAGE))') $(if $(value CLOSED),--closed '$(subst ','\'',$(value CLOSED))')

seat-web: ## fetch xterm.js from the npm registry (pinned, lock file) and gather the seats' terminal into build/seat-web
	@bash seat-web/build.sh build/seat-web

lint: venv ## ruff on the Python code, and mypy --strict on the doc tester (core and Docker profile; both set up in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: venv ## unit tests (no Docker needed), one worker per core
	$(PY) -m pytest tests/unit -q -n $(shell nproc)

check: lint unit ## the edit loop, no Docker needed: lint and the unit tests (a bare `pytest` is the unit tests alone)

# --require: no engine is a failure here, not a skip (as `pytest tests` outside make has it).
# Three workers: most tests wait on sandboxes starting; the ones that touch the
# outer engine itself share one worker (tests/integration/doc_runs.py).
integration: images ## integration tests against the real engine and mirror
	$(PY) -m pytest tests/integration -q --require docker -n 3 --dist loadscope

workflow: venv ## the GitHub workflow's commands in their order, as their users, in a fresh clone (root; no engine)
	$(PY) -m pytest tests/workflow -q

build: venv ## build the site with `mkdocs build --strict`
	$(VENV)/bin/mkdocs build --strict --quiet

# One worker more than cores: a page spends much of its time waiting on its
# containers (starts, pulls, health checks), so a third worker keeps two cores
# busy (measured: 106 s instead of 138 s per image store on 2 cores).
DOCTEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
# The test matrix: each pass is ENGINE:STORE:SHELL, a private engine (the
# sandbox image `make images` builds for it: bringup/images.py SANDBOX_ENGINES),
# its image store (overlay2, or containerd as on fresh Docker Desktop installs)
# and the reader's shell the page is typed into (bash, or zsh as on macOS).
SANDBOX_IMAGE_26.1 := intro-to-docker/doctest-sandbox:latest
SANDBOX_IMAGE_28.5 := intro-to-docker/doctest-sandbox:engine-28
# The fourth field is which of a step's system tabs run (doc_tabs): the
# Windows tabs, where their commands run unchanged in the shell (each in
# place of the macOS/Linux tab beside it), or the macOS/Linux tabs.
# Within make test's budget, two runs cover both engines, both image
# stores, both shells and both sets of tabs: every page alone on Engine 26.1
# (a Linux distribution's engine) with the classic store in bash, following
# the Windows tabs; and the nav in order, as an attendee on a Mac's fresh
# Docker Desktop walks it: today's engine, the containerd store, zsh, the
# macOS/Linux tabs. Add 28.5:containerd:zsh:unix to DOCTEST_MATRIX to run
# every page alone on today's engine too (about 2 minutes more).
DOCTEST_MATRIX ?= 26.1:overlay2:bash:windows
JOURNEY_MATRIX ?= 28.5:containerd:zsh:unix
matrix_field = $(word $(1),$(subst :, ,$(2)))
matrix_image = $(or $(SANDBOX_IMAGE_$(call matrix_field,1,$(1))),$(error no sandbox image for Engine $(call matrix_field,1,$(1)) in "$(1)": the engines are $(patsubst SANDBOX_IMAGE_%,%,$(filter SANDBOX_IMAGE_%,$(.VARIABLES)))))
matrix_flags = --doc-sandbox-image $(call matrix_image,$(1)) --doc-image-store $(call matrix_field,2,$(1)) --doc-reader-shell $(call matrix_field,3,$(1)) --doc-tabs $(or $(call matrix_field,4,$(1)),unix)
matrix_name = Engine $(call matrix_field,1,$(1)) ($(call matrix_image,$(1))), the $(call matrix_field,2,$(1)) image store, a $(call matrix_field,3,$(1)) reader shell, the $(or $(call matrix_field,4,$(1)),unix) tabs
doctest: images ## run every page's blocks on private engines, one per worker, once per pass of DOCTEST_MATRIX (engine:store:shell:tabs)
	@rm -f build/doctest-report.json  # a fresh record: only the engines this run tests
	@set -e; $(foreach pass,$(DOCTEST_MATRIX),echo "==> doc tests on $(call matrix_name,$(pass))"; \
	  $(PY) -m pytest docs/ examples/README.md -q -n $(DOCTEST_WORKERS) $(call matrix_flags,$(pass));)

# The journey's sandbox weighs eight times a sandbox's default in a contest
# for the CPU: beside the browser tests (`make test`), the longest step is
# slowed least (measured: 207 s and the browser tests 160 s, against 228 s
# and 168 s at the default 512). Alone, it changes nothing.
JOURNEY_CPU_SHARES := 4096
journey: images ## the attendee's path: the nav's pages in order, one shell, one engine, nothing reset between pages (JOURNEY_MATRIX)
	@rm -f build/journey-report.json build/check-record.json
	@set -e; $(foreach pass,$(JOURNEY_MATRIX),echo "==> the journey on $(call matrix_name,$(pass))"; \
	  status=0; $(PY) -m pytest -q -p no:xdist --doc-journey $(call matrix_flags,$(pass)) --doc-sandbox-cpu-shares $(JOURNEY_CPU_SHARES) \
	    --doc-report build/journey-report.json --doc-journey-record build/check-record.json \
	    $$($(PY) scripts/journey_pages.py) || status=$$?; \
	  $(PY) -m doctester.docker.checkpoints compare build/check-record.json examples/check-record.json || status=1; \
	  test $$status = 0;)

check-record: ## copy the chapters' record the last `make journey` wrote over examples/check-record.json (read by examples/check.py)
	@test -f build/check-record.json || { echo "build/check-record.json is missing: run make journey first"; exit 1; }
	cp build/check-record.json examples/check-record.json

browser-deps: ## install Chromium from Debian packages if it is missing (root)
	@test -n "$$CHROMIUM" || command -v chromium >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	  || { echo "browser tests need Chromium: apt-get install chromium chromium-driver (as root)"; exit 1; }

# BROWSER_NETNS=yes (root only; `make test` sets it when it runs the browser
# tests beside the journey): Chromium and the site's server in a network
# namespace of their own with loopback alone. Chromium fails page loads with
# ERR_NETWORK_CHANGED when interfaces come and go, as the sandboxes' do.
BROWSER_WORKERS := $(shell nproc)
BROWSER_NETNS := no
browser: venv browser-deps seat-web ## test the built site in headless Chromium (screenshots in build/screenshots; BROWSER_WORKERS, BROWSER_NETNS=yes)
	$(if $(filter yes,$(value BROWSER_NETNS)),unshare --net -- sh -c 'ip link set lo up && exec "$$@"' sh) \
	  $(PY) -m pytest tests/browser -q -n '$(subst ','\'',$(value BROWSER_WORKERS))' --require browser

site: doctest ## run the doc tests, then build the site with fresh verified marks into site/
	$(VENV)/bin/mkdocs build --strict --quiet

site-image: images ## build the site as a container image and check it serves the pages
	$(PY) -m pytest tests/integration/test_site_image.py -q --require docker

zensical: venv ## build the site with Zensical too, and check every page of the nav is there
	$(PY) -m pytest tests/integration/test_zensical.py -q

test: ## everything: venv, lint, engine, images, unit, integration and workflow tests, doc tests, the journey, site build, browser tests (at once where they can: `python3 scripts/run_steps.py --plan`)
	@$(PYTHON) scripts/run_steps.py

bench: images ## print the benchmark figures quoted in README.md and examples/README.md
	$(PY) benchmarks/bringup.py
	$(PY) benchmarks/harness.py
	$(PY) benchmarks/rest_server.py
	$(PY) benchmarks/check.py
	$(PY) benchmarks/site.py

clean: ## remove the built site and test artifacts (keeps .venv and the image cache)
	rm -rf site build .pytest_cache
