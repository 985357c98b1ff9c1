# Debian packages (`make package`, i.e. cpack -G DEB in the build dir), one per component:
#   leader-elector               the controller binary (component controller); its runtime
#                                dependencies come from dpkg-shlibdeps
#   libkube-leader-elector-dev   headers, static libraries, CMake package, .pc (component dev)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${PROJECT_NAME})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "kube-leader-elector maintainers <kube-leader-elector@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Leader election on Kubernetes Leases")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL dev)
if(KLE_BUILD_CONTROLLER)
  list(APPEND CPACK_COMPONENTS_ALL controller)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# For every package: CMake 3.25 ignored CPACK_DEBIAN_CONTROLLER_PACKAGE_SHLIBDEPS (leader-elector
# came out with no Depends). The -dev package holds no shared object, so it gains nothing here.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)

set(CPACK_DEBIAN_CONTROLLER_PACKAGE_NAME leader-elector)
set(CPACK_DEBIAN_CONTROLLER_PACKAGE_SECTION admin)
set(CPACK_COMPONENT_CONTROLLER_DESCRIPTION
  "Kubernetes leader-election controller\n The leader-elector binary: runs the election on a Lease, labels the leader's pod, serves metrics and health.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libkube-leader-elector-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# What find_package(kube-leader-elector) and the .pc file need (cmake/kle-config.cmake.in).
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libboost1.81-dev | libboost-dev (>= 1.81), libssl-dev, nlohmann-json3-dev (>= 3.10), libyaml-cpp-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION
  "C++20 leader election on Kubernetes Leases (development files)\n Headers, static libraries, CMake package (find_package(kube-leader-elector)) and pkg-config file for kle::election and kle::kube.")

include(CPack)
