// load_kubeconfig on arbitrary YAML: a config value or a config error, never a crash or an
// escaped exception. The input is written to a per-process scratch file because the
// loader reads from a path (and resolves relative references against its directory).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <kle/kube/config.hpp>

namespace {
const std::string path = "/tmp/kle-fuzz-kubeconfig-" + std::to_string(getpid()) + ".yaml";
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit([] { std::remove(path.c_str()); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  const auto c = kle::kube::load_kubeconfig(path);
  if (!c.ok() && c.error().kind != kle::api::ErrorKind::config) std::abort();
  if (c.ok() && (c->host.empty() || c->port.empty())) std::abort();
  return 0;
}
