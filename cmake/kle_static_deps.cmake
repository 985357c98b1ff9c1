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
# prometheus-cpp stays shared: Debian ships no archive of it, and because it links
# libstdc++.so, libstdc++ stays shared too (a second, static C++ runtime would not save it).
option(KLE_STATIC_YAML_CPP "Link yaml-cpp from its static archive (the release preset does)" OFF)
if(KLE_STATIC_YAML_CPP)
  find_library(KLE_YAML_CPP_ARCHIVE NAMES libyaml-cpp.a REQUIRED)
  set_target_properties(yaml-cpp PROPERTIES IMPORTED_LOCATION "${KLE_YAML_CPP_ARCHIVE}"
                                            IMPORTED_LOCATION_NONE "${KLE_YAML_CPP_ARCHIVE}"
                                            IMPORTED_LOCATION_RELEASE "${KLE_YAML_CPP_ARCHIVE}")
endif()
