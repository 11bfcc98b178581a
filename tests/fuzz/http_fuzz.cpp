// The metrics endpoint's request path, in process: bytes arrive in chunks (as reads return
// them) until httpRequestState says the headers ended or grew too large, then HttpServer::answer
// answers. Properties: every answer is one well-formed HTTP/1.1 response whose Content-Length is
// its body's length (none for HEAD), and a request never gets its bytes into the headers.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "status/http_server.h"

using namespace udpx;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<HttpServer::Route> routes = {
      {"/metrics", "text/plain; version=0.0.4", [] { return std::string("udpx_up 1\n"); }},
      {"/status", "application/json", []() -> std::string { throw std::runtime_error("no snapshot"); }},
  };
  FuzzedDataProvider in(data, size);
  std::string got;
  HttpRequestState state = HttpRequestState::Incomplete;
  while (in.remaining_bytes() > 0 && state == HttpRequestState::Incomplete) {
    const std::size_t chunk = in.ConsumeIntegralInRange<std::size_t>(1, 4096);
    got += in.ConsumeBytesAsString(chunk);
    state = httpRequestState(got);
  }
  if (state == HttpRequestState::Incomplete) {
    FUZZ_CHECK(got.size() <= 8192);
    return 0;
  }
  if (state == HttpRequestState::TooLarge) {
    FUZZ_CHECK(got.size() > 8192);
    return 0;
  }
  const std::string r = HttpServer::answer(routes, got);
  FUZZ_CHECK(r.rfind("HTTP/1.1 ", 0) == 0);
  const std::size_t end = r.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos);
  const std::string head = r.substr(0, end + 2);
  const std::string body = r.substr(end + 4);
  const std::size_t cl = head.find("\r\nContent-Length: ");
  FUZZ_CHECK(cl != std::string::npos);
  const std::size_t length = std::stoul(head.substr(cl + 18));
  FUZZ_CHECK(body.empty() || body.size() == length);
  // Header lines are udpx's own: each is "Name: value" or the status line.
  std::size_t at = 0;
  while (at < head.size()) {
    const std::size_t eol = head.find("\r\n", at);
    FUZZ_CHECK(eol != std::string::npos);
    const std::string line = head.substr(at, eol - at);
    FUZZ_CHECK(line.find('\n') == std::string::npos && line.find('\r') == std::string::npos);
    FUZZ_CHECK(at == 0 || line.find(": ") != std::string::npos);
    at = eol + 2;
  }
  return 0;
}
