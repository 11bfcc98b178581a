// The config loader on arbitrary text (TOML → Config or errors). Properties: it never throws or
// crashes; a Config comes only without errors; every error names the file and formats to one line.
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "fuzz_check.h"

using namespace udpx;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const LoadResult r = loadConfigString(text, "fuzz.toml");
  FUZZ_CHECK(r.config.has_value() == r.errors.empty());
  for (const ConfigError& e : r.errors) {
    const std::string line = e.format();
    FUZZ_CHECK(line.rfind("fuzz.toml", 0) == 0);
  }
  for (const ConfigError& w : r.warnings) (void)w.format();
  if (r.config) {
    FUZZ_CHECK(r.config->text_hash == hashConfigText(text));
    FUZZ_CHECK(!r.config->frontends.empty());
  }
  return 0;
}
