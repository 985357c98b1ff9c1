# kle_library(<pkg>): the library target kle_<pkg> from pkg/<pkg>/*.cpp, with its public headers
# in pkg/<pkg>/include (installed as <kle/<pkg>/*.hpp>) and the name kle::<pkg> both in the build
# (an ALIAS, for add_subdirectory consumers) and in the installed package (EXPORT_NAME).
# Warnings apply to our own compilation only. They are copied from kle_warnings rather than
# linked: a static library carries even its PRIVATE links into its link interface (as
# $<LINK_ONLY:...>), and kle_warnings must never appear in an exported target.
function(kle_library pkg)
  set(target kle_${pkg})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_library(${target} ${sources})
  add_library(kle::${pkg} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${pkg})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_options(${target} PRIVATE $<TARGET_PROPERTY:kle_warnings,INTERFACE_COMPILE_OPTIONS>)
endfunction()
