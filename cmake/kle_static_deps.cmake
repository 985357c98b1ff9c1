# Link choices for the shipped binary (the release preset turns them on; issue 14, resident
# memory): every shared object the process maps costs its own partly used text pages and its
# own relocated pages, so what Debian ships as a PIC archive is linked statically.
# OpenSSL and Boost have their own switches (OPENSSL_USE_STATIC_LIBS, Boost_USE_STATIC_LIBS).
# yaml-cpp's CMake package knows only its .so: KLE_STATIC_YAML_CPP points the imported target
# at Debian's libyaml-cpp.a instead. An installed kle_kube still names the target `yaml-cpp`,
# so a consumer's own find_package decides how it links there.
# The release preset also links with -z pack-relative-relocs (DT_RELR, glibc >= 2.36 as in
# Debian 12 and its distroless base): a PIE's relative relocations shrink from 24 bytes each
# (0.5 MB here, all read by ld.so at start, so all resident) to a bitmap of a few KB, keeping
# ASLR; -no-pie would drop them too, but without ASLR.
# And it compiles at -Os, not -O3: an idle replica has nearly all of its text resident (start-up
# touches code all over it and the kernel maps 64 KiB around each fault), so text size is
# resident size; -Os cut .text from 4.7 to 3.8 MB and VmRSS by 1.0 MiB. The controller spends
# its CPU in OpenSSL and the kernel, which this does not change (bench/RESULTS.md, issue 14).
# prometheus-cpp and the C++ runtime: below.
option(KLE_STATIC_YAML_CPP "Link yaml-cpp from its static archive (the release preset does)" OFF)
if(KLE_STATIC_YAML_CPP)
  find_library(KLE_YAML_CPP_ARCHIVE NAMES libyaml-cpp.a REQUIRED)
  set_target_properties(yaml-cpp PROPERTIES IMPORTED_LOCATION "${KLE_YAML_CPP_ARCHIVE}"
                                            IMPORTED_LOCATION_NONE "${KLE_YAML_CPP_ARCHIVE}"
                                            IMPORTED_LOCATION_RELEASE "${KLE_YAML_CPP_ARCHIVE}")
endif()

# prometheus-cpp-core and the C++ runtime linked statically (the release preset turns both on;
# issue 14). Debian ships prometheus-cpp only as .so files linked against libstdc++.so, so
# libstdc++ could not go static while it was used. KLE_PROMETHEUS_CPP_SOURCE names Debian's own
# source package of the installed version, unpacked by hack/debian-source.sh (apt-get source:
# same archive, same version, Debian's patches applied); its core is built here as an archive,
# against the installed headers. With KLE_PROMETHEUS_CPP_FETCH_SOURCE and no path given,
# configuring runs that script into the build tree (the Dockerfile runs it in a layer of its
# own instead, so an edit to the sources does not fetch again). KLE_STATIC_LIBSTDCXX then links
# libstdc++, libgcc and libm (of which the binary uses llround alone) into leader-elector,
# which leaves libc its only shared library.
# Measured (bench/RESULTS.md, issue 14, sixth and seventh passes): an idle replica's VmRSS
# 9.6 -> 7.8 MiB.
set(KLE_PROMETHEUS_CPP_SOURCE "" CACHE PATH
    "Unpacked Debian source of prometheus-cpp (hack/debian-source.sh): build its core as an archive")
option(KLE_PROMETHEUS_CPP_FETCH_SOURCE
       "Without KLE_PROMETHEUS_CPP_SOURCE, unpack Debian's source of prometheus-cpp into the build tree (apt-get source)" OFF)
option(KLE_STATIC_LIBSTDCXX "Link libstdc++, libgcc and libm statically into leader-elector (needs KLE_PROMETHEUS_CPP_SOURCE)" OFF)
set(KLE_PROMETHEUS_CORE prometheus-cpp::core)  # what kle_metrics links
if(KLE_BUILD_CONTROLLER AND NOT KLE_PROMETHEUS_CPP_SOURCE AND KLE_PROMETHEUS_CPP_FETCH_SOURCE)
  message(STATUS "prometheus-cpp: unpacking Debian's source package (hack/debian-source.sh)")
  execute_process(
    COMMAND "${PROJECT_SOURCE_DIR}/hack/debian-source.sh" prometheus-cpp prometheus-cpp-dev
            "${PROJECT_BINARY_DIR}/_debian-src"
    OUTPUT_VARIABLE _tree OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_VARIABLE _err RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "KLE_PROMETHEUS_CPP_FETCH_SOURCE: hack/debian-source.sh failed (${_rc}):\n${_err}"
                        "Give an unpacked tree with -DKLE_PROMETHEUS_CPP_SOURCE=DIR, or turn "
                        "KLE_PROMETHEUS_CPP_FETCH_SOURCE and KLE_STATIC_LIBSTDCXX off to link Debian's .so")
  endif()
  set(KLE_PROMETHEUS_CPP_SOURCE "${_tree}" CACHE PATH
      "Unpacked Debian source of prometheus-cpp (hack/debian-source.sh): build its core as an archive" FORCE)
endif()
if(KLE_BUILD_CONTROLLER AND KLE_PROMETHEUS_CPP_SOURCE)
  set(_src "${KLE_PROMETHEUS_CPP_SOURCE}")
  if(NOT EXISTS "${_src}/.kle-debian-version" OR NOT EXISTS "${_src}/core/src/registry.cc")
    message(FATAL_ERROR "KLE_PROMETHEUS_CPP_SOURCE=${_src} is not a tree unpacked by hack/debian-source.sh "
                        "(no .kle-debian-version or core/src/registry.cc)")
  endif()
  # The sources must be the installed headers' own version: a core built from other sources
  # against these headers would break the ABI silently.
  file(READ "${_src}/.kle-debian-version" _deb_version)
  string(STRIP "${_deb_version}" _deb_version)
  execute_process(COMMAND dpkg-query -W -f=\${Version} prometheus-cpp-dev
                  OUTPUT_VARIABLE _installed RESULT_VARIABLE _rc ERROR_QUIET)
  if(NOT _rc EQUAL 0 OR NOT _installed STREQUAL _deb_version)
    message(FATAL_ERROR "KLE_PROMETHEUS_CPP_SOURCE=${_src} is Debian's prometheus-cpp ${_deb_version}, but the "
                        "installed prometheus-cpp-dev is '${_installed}': unpack it again (hack/debian-source.sh)")
  endif()
  file(GLOB _core_sources "${_src}/core/src/*.cc" "${_src}/core/src/detail/*.cc")
  add_library(kle_prometheus_core STATIC ${_core_sources})
  get_target_property(_prom_includes prometheus-cpp::core INTERFACE_INCLUDE_DIRECTORIES)
  # The installed headers (prometheus-cpp-dev, the same version) with their generated export
  # header; STATIC_DEFINE empties its visibility attributes. The tree's core/src has the
  # private headers.
  target_include_directories(kle_prometheus_core SYSTEM PUBLIC ${_prom_includes})
  target_include_directories(kle_prometheus_core PRIVATE "${_src}/core/src")
  target_compile_definitions(kle_prometheus_core PUBLIC PROMETHEUS_CPP_CORE_STATIC_DEFINE)
  target_compile_features(kle_prometheus_core PUBLIC cxx_std_14)
  set_target_properties(kle_prometheus_core PROPERTIES POSITION_INDEPENDENT_CODE ON)
  set(KLE_PROMETHEUS_CORE kle_prometheus_core)
  message(STATUS "prometheus-cpp core: built as an archive from ${_src} (Debian ${_deb_version})")
endif()
# What leader-elector links for its runtime (cmd/leader-elector): nothing, or the static C++
# runtime. Only that target: the libraries and tests of the same build are not affected.
add_library(kle_runtime_link INTERFACE)
if(KLE_STATIC_LIBSTDCXX)
  if(NOT KLE_PROMETHEUS_CORE STREQUAL "kle_prometheus_core" AND KLE_BUILD_CONTROLLER)
    message(FATAL_ERROR "KLE_STATIC_LIBSTDCXX needs KLE_PROMETHEUS_CPP_SOURCE (or KLE_PROMETHEUS_CPP_FETCH_SOURCE): "
                        "Debian's libprometheus-cpp-core.so links libstdc++.so, and a second, static C++ runtime "
                        "beside it saves nothing")
  endif()
  find_library(KLE_LIBM_ARCHIVE NAMES libm.a REQUIRED)
  # --as-needed: the libm.so that g++ names by default is then dropped, its one symbol having
  # come from the archive.
  target_link_options(kle_runtime_link INTERFACE -static-libstdc++ -static-libgcc LINKER:--as-needed)
  target_link_libraries(kle_runtime_link INTERFACE "${KLE_LIBM_ARCHIVE}")
endif()
