# syntax=docker/dockerfile:1
# The leader-elector controller image: built from source with the same Debian packages as
# hack/deps.sh, shipped on debian-slim with only the binary and its shared libraries.
#   docker build -t ghcr.io/kube-leader-elector/leader-elector:0.1.0 .
# Checked by hack/lint-dockerfile.sh; tests/chart/test_dockerfile_libs.sh proves the runtime
# packages below cover every library the binary links (ldd + dpkg -S).
# Base images are pinned to the Debian point release the project is built and tested on
# (12.11, bookworm). Pin by digest too when publishing: `FROM debian:12.11-slim@sha256:...`.

FROM debian:12.11 AS build
ARG DEBIAN_FRONTEND=noninteractive
# The build subset of hack/deps.sh (no test, lint or demo tools; the release preset builds no tests).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config ca-certificates \
      libboost1.81-dev libboost-program-options1.81-dev libssl-dev \
      nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the release build reads, so edits to tests, charts or docs do not bust the cache.
COPY CMakeLists.txt CMakePresets.json ./
COPY cmake/ cmake/
COPY pkg/ pkg/
COPY cmd/ cmd/
RUN cmake --preset release \
 && cmake --build --preset release --target leader-elector \
 && strip build/release/cmd/leader-elector/leader-elector

# debian-slim rather than distroless/cc-debian12: distroless has libc, libstdc++ and libssl3
# but not prometheus-cpp, Boost.ProgramOptions or yaml-cpp, which would have to be copied
# in by hand and would then miss Debian's security updates.
FROM debian:12.11-slim
ARG DEBIAN_FRONTEND=noninteractive
# Runtime libraries only (see tests/chart/test_dockerfile_libs.sh). ca-certificates: a
# kubeconfig may point at an apiserver with a publicly signed certificate.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libboost-program-options1.81.0 libyaml-cpp0.7 libprometheus-cpp-core1.0 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/cmd/leader-elector/leader-elector /usr/local/bin/leader-elector
# 65532: the conventional "nonroot" UID; numeric so the kubelet can verify runAsNonRoot.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/leader-elector"]
