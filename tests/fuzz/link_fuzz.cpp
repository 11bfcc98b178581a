// The reload messages between binder and worker (privsep::parseLinkMessage) on arbitrary bytes
// and 0-3 descriptors. Properties: only Ask, Order and Done are accepted, only an Order carries
// descriptors, every byte is accounted for, and no descriptor leaks.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "fuzz_check.h"
#include "privsep/fdpass.h"

using namespace udpx;
using namespace udpx::privsep;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t fd_count = data[0] % 4;
  std::vector<int> raw;
  {
    Message m;
    m.data.assign(data + 1, data + size);
    for (std::size_t i = 0; i < fd_count; ++i) {
      const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      FUZZ_CHECK(fd >= 0);
      raw.push_back(fd);
      m.fds.emplace_back(fd);
    }
    std::string error;
    const auto l = parseLinkMessage(m, error);
    if (l) {
      FUZZ_CHECK(l->kind == LinkKind::Ask || l->kind == LinkKind::Order || l->kind == LinkKind::Done);
      FUZZ_CHECK(l->fds.size() == fd_count);
      if (l->kind != LinkKind::Order) FUZZ_CHECK(fd_count == 0);
      std::size_t used = 40 + l->name.size() + l->text.size() + l->summary.size();
      for (const std::string& line : l->lines) used += 4 + line.size();
      FUZZ_CHECK(used == size - 1);
    } else {
      FUZZ_CHECK(!error.empty());
    }
  }
  for (const int fd : raw) FUZZ_CHECK(fcntl(fd, F_GETFD) < 0);
  return 0;
}
