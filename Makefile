# The two commands that matter: `make demo` (the main job) and `make test` (everything).
# Both work on a fresh machine: they install Debian packages and build the control plane
# from the Go module proxy on first use (cached under $(KLE_CACHE)).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

PRESET ?= dev
BUILD_DIR := build/$(PRESET)
export KLE_CACHE ?= $(HOME)/.cache/kube-leader-elector
JOBS ?= $(shell nproc)

.PHONY: deps build unit test test-unit test-integration test-asan tools cluster-up cluster-down demo lint clean

deps:
	@hack/deps.sh

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

# Unit tests only: no network, no cluster.
unit test-unit: build
	@ctest --preset $(PRESET) -L unit -j $(JOBS)

# The real control plane (kube-apiserver, etcd, controller-manager, scheduler, kubectl,
# helm, kwok) built from Go modules into $(KLE_CACHE)/bin/<version>.
tools:
	@hack/controlplane/build.sh

cluster-up: tools
	@tests/cluster/up

cluster-down:
	@tests/cluster/down

# Integration and end-to-end suites against a real apiserver that this target starts and
# always stops again.
test-integration: build tools
	@tests/run-integration.sh $(BUILD_DIR)

test-asan:
	@$(MAKE) --no-print-directory PRESET=asan test-unit

# Everything: unit, integration on the real control plane, and the ASan+UBSan unit suite.
test: test-unit test-integration test-asan

demo: build tools
	@hack/demo.sh $(BUILD_DIR)

lint: build
	@hack/lint.sh $(BUILD_DIR)

clean:
	rm -rf build
