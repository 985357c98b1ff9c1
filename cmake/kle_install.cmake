# What a C++ consumer installs: the four library packages (log, api, election, kube), their
# public headers, the kle::asio settings target, a CMake package and a pkg-config file.
# The controller's own parts (metrics, labeler, http, controller) stay inside the binary.
# docs/LIBRARY.md has the decisions (versioning, static libraries, relocation).
include(CMakePackageConfigHelpers)

set(KLE_PACKAGE kube-leader-elector)
set(KLE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/${KLE_PACKAGE})
# Link order: each library before the ones it uses.
set(KLE_EXPORTED_LIBS kle_kube kle_election kle_api kle_log)

install(TARGETS ${KLE_EXPORTED_LIBS} kle_asio
  EXPORT kle-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
foreach(pkg IN ITEMS log api election kube)
  # Only include/kle/<pkg>/: the private headers beside the sources are never installed.
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/pkg/${pkg}/include/kle
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
endforeach()

install(EXPORT kle-targets
  NAMESPACE kle::
  FILE ${KLE_PACKAGE}-targets.cmake
  DESTINATION ${KLE_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/kle-config.cmake.in
  ${PROJECT_BINARY_DIR}/${KLE_PACKAGE}-config.cmake
  INSTALL_DESTINATION ${KLE_CMAKE_DIR})
# 0.x: a new minor version may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/${KLE_PACKAGE}-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/${KLE_PACKAGE}-config.cmake
  ${PROJECT_BINARY_DIR}/${KLE_PACKAGE}-config-version.cmake
  DESTINATION ${KLE_CMAKE_DIR} COMPONENT dev)

# pkg-config: prefix is found from the .pc file's own place, so the tree stays relocatable.
set(KLE_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH KLE_PC_TO_PREFIX /prefix/${KLE_PC_DIR} /prefix)
string(REGEX REPLACE "/$" "" KLE_PC_TO_PREFIX "${KLE_PC_TO_PREFIX}")
set(KLE_PC_LIBS "")
foreach(lib IN LISTS KLE_EXPORTED_LIBS)
  string(REGEX REPLACE "^kle_" "-lkle_" flag ${lib})
  string(APPEND KLE_PC_LIBS " ${flag}")
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/kube-leader-elector.pc.in
  ${PROJECT_BINARY_DIR}/${KLE_PACKAGE}.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/${KLE_PACKAGE}.pc DESTINATION ${KLE_PC_DIR} COMPONENT dev)
