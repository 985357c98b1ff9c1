# syntax=docker/dockerfile:1
# The leader-elector controller image: built from source with the same Debian packages as
# hack/deps.sh, shipped on distroless/cc with only the binary and its shared libraries.
#   docker build -t ghcr.io/kube-leader-elector/leader-elector:0.1.0 .
# Checked by hack/lint-dockerfile.sh; tests/chart/test_dockerfile_libs.sh proves the runtime
# libraries below cover every library the binary links (ldd + dpkg -S), and no more.
# The build stage is pinned to the bookworm point release that apt-get below really installs
# from: the mirror serves only the newest one (12.15 now), so an older tag would name a release
# the build does not get. `make image` (hack/image/bases.sh) fails when the mirror moves on,
# naming the new release. Pin by digest too when publishing (`FROM ...@sha256:...`).

FROM debian:12.15 AS build
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

# The runtime is distroless/cc-debian12 (about 25 MB): it already holds what a C++ binary
# needs from Debian 12 (libc6, libgcc-s1, libstdc++6, ca-certificates; its libssl3 goes
# unused, since the release preset links OpenSSL statically) and nothing else: no shell, no
# package manager. The one library it lacks, prometheus-cpp-core, is copied from the build
# stage's Debian package (the same release), named so tests/chart/test_dockerfile_libs.sh can
# prove the list equals what `ldd` asks for. Boost.Program_options and yaml-cpp are linked
# statically too (cmake/kle_static_deps.cmake); libstdc++ stays shared because prometheus-cpp
# (shipped only as a .so) links it, and a second, static copy would give the process two C++
# runtimes.
# debian-slim with apt-get would be ~80 MB for the same binary. amd64 paths: the image is
# built for linux/amd64.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build \
     /usr/lib/x86_64-linux-gnu/libprometheus-cpp-core.so.1.0 \
     /usr/lib/x86_64-linux-gnu/
COPY --from=build /src/build/release/cmd/leader-elector/leader-elector /usr/local/bin/leader-elector
# 65532: distroless's "nonroot"; numeric so the kubelet can verify runAsNonRoot.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/leader-elector"]
