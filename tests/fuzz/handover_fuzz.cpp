// The worker's check of the binder's handover message (privsep::parseHandover) on arbitrary
// bytes and 0-3 descriptors. Properties: a message is accepted only when its header announces
// exactly its length and descriptor count; whatever the verdict, no descriptor leaks.
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
    const auto h = parseHandover(m, error);
    if (h) {
      FUZZ_CHECK(h->listeners.size() == fd_count);
      FUZZ_CHECK(h->config_text.size() <= kMaxConfigText);
      FUZZ_CHECK(28 + h->config_name.size() + h->config_text.size() == size - 1);
    } else {
      FUZZ_CHECK(!error.empty());
    }
  }
  for (const int fd : raw) FUZZ_CHECK(fcntl(fd, F_GETFD) < 0);
  return 0;
}
