#pragma once
// Trimming the resident set once start-up is over (issue 14). Most of an idle replica's
// resident memory is clean pages of the binary and its libraries, mapped in while it started:
// option parsing, the kubeconfig's YAML, OpenSSL's initialisation and CA loading, the first
// connection. The kernel maps file pages around each fault (fault-around), so a code path
// run once leaves whole 64 KiB windows mapped. The idle loop (a renewal or a watch event,
// the metrics endpoint) touches far less, and nothing ever unmaps the rest.
//
// trim_working_set() unmaps the clean file pages of the read-only private mappings (code
// and read-only data) and hands free heap pages back to the kernel. It is safe because such
// a page holds exactly the file's bytes: the next access maps it again from the page cache
// (a minor fault, no I/O while the page is cached). A mapping with any copy-on-write page
// (smaps "Anonymous" > 0: relocated data, RELRO) and every writable mapping is skipped, so
// nothing written is ever dropped. The process loads no library after start-up (glibc 2.36
// has NSS files/dns built in; OpenSSL's providers are built in), so no mapping turns
// writable between reading smaps and the madvise.
#include <sys/mman.h>

#include <malloc.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kle::cmd {

struct TrimResult {
  int mappings = 0;  // read-only file mappings whose pages were unmapped
  bool heap_trimmed = false;
};

inline TrimResult trim_working_set() {
  struct Range {
    std::uintptr_t begin, end;
    bool candidate;
  };
  std::vector<Range> ranges;
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  while (std::getline(smaps, line)) {
    // A mapping's header is "begin-end perms offset dev inode [path]"; its fields follow as
    // "Name: value kB". "Anonymous:" counts its copy-on-write (written) pages.
    std::istringstream in(line);
    std::string first, second;
    in >> first >> second;
    const auto dash = first.find('-');
    if (dash != std::string::npos && first.back() != ':') {
      std::string offset, dev, inode, path;
      in >> offset >> dev >> inode >> path;
      const bool read_only_private = second == "r-xp" || second == "r--p";
      ranges.push_back({std::stoull(first.substr(0, dash), nullptr, 16), std::stoull(first.substr(dash + 1), nullptr, 16),
                        read_only_private && !path.empty() && path.front() == '/'});
    } else if (first == "Anonymous:" && !ranges.empty() && second != "0") {
      ranges.back().candidate = false;  // written pages: never drop those
    }
  }
  TrimResult r;
  for (const auto& m : ranges) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the address is the kernel's, from smaps
    if (m.candidate && madvise(reinterpret_cast<void*>(m.begin), m.end - m.begin, MADV_DONTNEED) == 0) ++r.mappings;
  }
  r.heap_trimmed = malloc_trim(0) != 0;
  return r;
}

}  // namespace kle::cmd
