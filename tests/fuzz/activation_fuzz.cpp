// Socket activation's environment (privsep::systemdSocketCount): LISTEN_PID and LISTEN_FDS as
// any bytes, or unset. Properties: a count is within 0..1024; a refusal says so in one short line
// of printable text, whatever the value (it goes to the journal and the terminal).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "privsep/activation.h"

using namespace udpx::privsep;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  constexpr long kOurPid = 4242;
  const int pid_mode = in.ConsumeIntegralInRange<int>(0, 2);  // unset, ours, any text
  const bool fds_set = in.ConsumeBool();
  std::string pid_text = pid_mode == 1 ? std::to_string(kOurPid) : in.ConsumeRandomLengthString(32);
  const std::string fds_text = in.ConsumeRemainingBytesAsString();
  // Environment values end at the first NUL.
  const std::string fds(fds_text.c_str());
  std::string error;
  const auto count = systemdSocketCount(pid_mode == 0 ? nullptr : pid_text.c_str(), fds_set ? fds.c_str() : nullptr,
                                        kOurPid, error);
  if (count) {
    FUZZ_CHECK(*count >= 0 && *count <= 1024);
    if (!fds_set || pid_mode == 0) FUZZ_CHECK(*count == 0);
  } else {
    FUZZ_CHECK(fds_set && !error.empty());
    FUZZ_CHECK(error.size() <= 256);
    for (const char c : error) FUZZ_CHECK(c != '\n' && c != '\r' && c != '\x1b');
  }
  return 0;
}
