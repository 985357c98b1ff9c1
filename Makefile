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

.PHONY: deps build unit demo-processes test test-serial test-unit test-integration test-integration-asan test-chart test-asan tools cluster-up cluster-down demo bench lint clean test-consumer package

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

# helm lint/template and failure cases, schema, manifests in sync, promtool rule tests,
# dashboard and metric names, Dockerfile lint and its library list against the real binary.
test-chart: build tools
	@LEADER_ELECTOR_BIN=$(BUILD_DIR)/cmd/leader-elector/leader-elector tests/chart/run.sh

# The library as another project uses it: installed prefix, add_subdirectory and the Debian
# packages unpacked into a throwaway root, each building tests/consumer and examples/; the
# examples then run against a real apiserver that this target starts and stops.
test-consumer: build tools
	@tests/consumer/run.sh $(BUILD_DIR)

# The Debian packages leader-elector and libkube-leader-elector-dev, in $(BUILD_DIR).
package: build
	@cd $(BUILD_DIR) && cpack -G DEB

test-asan:
	@$(MAKE) --no-print-directory PRESET=asan test-unit

# The integration and end-to-end suites again, with the controller and the integration tests
# built with ASan+UBSan: memory errors, UB and leaks on the real I/O paths (TLS, watch streams,
# token rotation, partitions, apiserver restarts). Any sanitizer report fails it.
test-integration-asan: tools
	@$(MAKE) --no-print-directory PRESET=asan build
	@tests/run-integration.sh build/asan

# Everything: unit, clang-tidy + shellcheck, chart, integration + e2e on the real control
# plane, real pods on a real kubelet (image built here, failover table), and the unit and
# integration suites again under ASan+UBSan. Three lanes side by side (hack/test-all.sh): stage
# logs in build/test-logs/, a table of each stage's wall time at the end.
test:
	@hack/test-all.sh

# The same stages one after another, output straight to the terminal.
test-serial: test-unit lint test-chart test-integration test-consumer test-real-node test-asan test-integration-asan

# Real pods on a real kubelet when this machine allows it (hack/demo-real.sh); otherwise it
# says why and runs the process-based demo. `make demo-processes` asks for that one directly.
# The real-pod demo runs the image, so it builds the host binaries only when it falls back.
demo: deps tools
	@PRESET=$(PRESET) hack/demo-real.sh $(BUILD_DIR)

demo-processes: build tools
	@hack/demo.sh $(BUILD_DIR)

# Rollouts on the real node: leader changes, no-leader time, failed and non-leader requests
# per `kubectl rollout restart` (KLE_ROLLOUTS, default 10). Prints figures; fails on invariants.
bench-rollout: tools image
	@hack/controlplane/build.sh kubelet kube-proxy
	@hack/image/pause.sh
	@tests/e2e-node/rollout.sh

# Benchmarks against client-go and the Node elector on the real control plane.
bench: tools
	@$(MAKE) --no-print-directory PRESET=release build
	@bench/run.sh build/release

# Many Leases in one process (issue #14): ours (one shared watch) beside client-go (one
# LeaderElector per Lease) at N = 1, 100 and 1000. Minutes, so not part of `make test`.
# An optimised build of the driver: the dev preset with the shipped binary's -Os (the
# release preset builds no bench). GCC 12's -Wnull-dereference fires inside Asio's scheduler
# once it is inlined at -O2 and above, as under TSan, so that one stays a warning. Flags
# through ML_FLAGS, e.g. ML_FLAGS='--window 600 --counts 1000'.
bench-many-leases: deps tools
	@cmake --preset dev -B build/bench-release -DCMAKE_BUILD_TYPE=Release '-DCMAKE_CXX_FLAGS_RELEASE=-Os -DNDEBUG' \
	  -DCMAKE_CXX_FLAGS=-Wno-error=null-dereference >/dev/null
	@cmake --build build/bench-release -j $(JOBS) --target many-leases
	@bench/many-leases.sh $(ML_FLAGS) build/bench-release

# clang-tidy (.clang-tidy: bugprone, performance, clang-analyzer); zero findings in our code.
lint: build
	@hack/lint.sh $(BUILD_DIR)

clean:
	rm -rf build

# Real image and real node (hack/image/build.sh, tests/node/up).
# `make image`: the Dockerfile built with podman --pull=never from locally made base images;
# archive in $(KLE_CACHE)/image/archives/. node-up/node-down: a kubelet node in its own
# network namespace with the control plane. test-real-node: helm install + failover table
# (KLE_FAILOVERS per kind, KLE_ELECTION=lease/renew/retry/request; chart defaults if unset),
# then sidecar mode.
.PHONY: image node-up node-down test-real-node bench-rollout bench-many-leases
image:
	@hack/image/build.sh

node-up: tools
	@hack/node-deps.sh
	@hack/controlplane/build.sh kubelet kube-proxy
	@hack/image/pause.sh
	@tests/node/up

node-down:
	@tests/node/down

test-real-node: tools image
	@hack/controlplane/build.sh kubelet kube-proxy
	@hack/image/pause.sh
	@hack/image/demo-app.sh
	@tests/e2e-node/real_node.sh
	@tests/e2e-node/sidecar.sh
