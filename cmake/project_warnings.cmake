# Warnings apply only to our own targets (dependency headers are SYSTEM includes).
add_library(kle_warnings INTERFACE)
target_compile_options(kle_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
  -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(KLE_WARNINGS_AS_ERRORS)
  target_compile_options(kle_warnings INTERFACE -Werror)
endif()

# Boost.Asio/Beast are header-only here; this target carries their settings once.
# Installed with the libraries (their headers include Asio): kle::asio in the package.
add_library(kle_asio INTERFACE)
add_library(kle::asio ALIAS kle_asio)
set_target_properties(kle_asio PROPERTIES EXPORT_NAME asio)
target_link_libraries(kle_asio INTERFACE Boost::headers Threads::Threads)
# Beast uses std::string_view by default under C++17+; only the deprecated APIs are kept out.
target_compile_definitions(kle_asio INTERFACE BOOST_ASIO_NO_DEPRECATED)
