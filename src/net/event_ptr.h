// RAII wrappers for libevent objects.
#pragma once

#include <event2/event.h>

#include <memory>

namespace udpx {

struct EventBaseDeleter {
  void operator()(event_base* b) const noexcept { event_base_free(b); }
};
struct EventDeleter {
  void operator()(event* e) const noexcept { event_free(e); }
};
using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;

}  // namespace udpx
