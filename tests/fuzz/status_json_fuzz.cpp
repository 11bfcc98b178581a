// `udpx status` reading what the status socket sent: json::parse, snapshotFromJson and both
// renderings, on arbitrary text. Properties: nothing crashes or overflows, whatever the numbers;
// the document written back from the snapshot is JSON, and reads back to the same document.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "status/clients_text.h"
#include "status/json.h"
#include "status/snapshot_json.h"
#include "status/status_client.h"

using namespace udpx;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto doc = json::parse(text, error);
  if (!doc) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  const Snapshot s = snapshotFromJson(*doc);
  (void)renderStatusText(s);
  (void)renderClientsText(s);
  const std::string written = toJson(s);
  const auto again = json::parse(written, error);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(toJson(snapshotFromJson(*again)) == written);
  return 0;
}
