# syntax=docker/dockerfile:1
# The leader-elector controller image: built from source with the same Debian packages as
# hack/deps.sh, shipped on distroless/cc with only the binary (libc is its one shared library).
#   docker build -t ghcr.io/kube-leader-elector/leader-elector:0.1.0 .
# Checked by hack/lint-dockerfile.sh; tests/chart/test_dockerfile_libs.sh proves the runtime
# libraries below cover every library the binary links (ldd + dpkg -S), and no more.
# The build stage is pinned to the bookworm point release that apt-get below really installs
# from: the mirror serves only the newest one (12.15 now), so an older tag would name a release
# the build does not get. `make image` (hack/image/bases.sh) fails when the mirror moves on,
# naming the new release. Pin by digest too when publishing (`FROM ...@sha256:...`).

FROM debian:12.15 AS build
ARG DEBIAN_FRONTEND=noninteractive
# The build subset of hack/deps.sh (no test, lint or demo tools; the release preset builds no
# tests). dpkg-dev unpacks prometheus-cpp's source package below.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config ca-certificates dpkg-dev \
      libboost1.81-dev libboost-program-options1.81-dev libssl-dev \
      nlohmann-json3-dev libyaml-cpp-dev prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Debian's source of the prometheus-cpp just installed (same archive, same version, Debian's
# patches), so the release preset builds its core as an archive and links the C++ runtime in
# (cmake/kle_static_deps.cmake). A layer of its own: edits to the sources do not fetch again.
COPY hack/debian-source.sh hack/
RUN hack/debian-source.sh prometheus-cpp prometheus-cpp-dev /deps >/deps.path
# Only what the release build reads, so edits to tests, charts or docs do not bust the cache.
COPY CMakeLists.txt CMakePresets.json ./
COPY cmake/ cmake/
COPY pkg/ pkg/
COPY cmd/ cmd/
RUN cmake --preset release -DKLE_PROMETHEUS_CPP_SOURCE="$(cat /deps.path)" \
 && cmake --build --preset release --target leader-elector \
 && strip build/release/cmd/leader-elector/leader-elector

# The runtime is distroless/cc-debian12 (about 25 MB): Debian 12's libc6, libgcc-s1,
# libstdc++6, libssl3 and ca-certificates, and nothing else: no shell, no package manager. The
# binary uses its libc alone: OpenSSL, Boost.Program_options, yaml-cpp, prometheus-cpp's core
# and the C++ runtime are linked in (the release preset, cmake/kle_static_deps.cmake; each
# shared object costs resident pages of its own, issue 14). tests/chart/test_dockerfile_libs.sh
# proves that what `ldd` asks for is in this base, and that any library copied here is needed.
# debian-slim with apt-get would be ~80 MB for the same binary. amd64 paths: the image is
# built for linux/amd64.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/build/release/cmd/leader-elector/leader-elector /usr/local/bin/leader-elector
# 65532: distroless's "nonroot"; numeric so the kubelet can verify runAsNonRoot.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/leader-elector"]
