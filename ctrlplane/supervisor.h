// Supervision of control-plane components (DESIGN.md §2): each component runs its steps under its
// own guard. A step returns absl::Status; a failed status (or, as a last line of defence, an
// exception — a bad_alloc, a library's throw) marks the component failed. It is restarted (its
// restart function rebuilds it, typically from the last published snapshot) after an exponential
// backoff, while its siblings and the shards go on. A component that stays healthy for a while
// has its backoff reset.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "dataplane/route/types.h"
#include "spdlog/spdlog.h"

namespace dmrswitch::cp {

class Supervisor {
 public:
  struct Backoff {
    route::TimeNs initial = 1 * route::kSec;
    route::TimeNs max = 60 * route::kSec;
    route::TimeNs healthy_after = 60 * route::kSec;  // resets the backoff
  };

  explicit Supervisor(Backoff b) : backoff_(b) {}
  Supervisor() : Supervisor(Backoff{}) {}

  // Registers a component; `restart` rebuilds it after a failure (a failed status keeps it down
  // for another backoff). Returns its handle.
  size_t Add(std::string name, std::function<absl::Status(route::TimeNs)> restart) {
    components_.push_back(Component{std::move(name), std::move(restart)});
    return components_.size() - 1;
  }

  // Runs `step` (returning absl::Status, or nothing) for component `id` unless it is waiting to
  // restart. Restarts it when its backoff has passed. Returns false if the step did not run or
  // failed.
  template <typename Fn>
  bool Run(size_t id, route::TimeNs now, Fn&& step) {
    Component& c = components_[id];
    if (c.failed) {
      if (now < c.restart_at) return false;
      if (!Guard(c, now, [&] { return c.restart(now); })) return false;
      c.failed = false;
      c.up_since = now;
      ++c.restarts;
      spdlog::warn("component {} restarted (restart #{})", c.name, c.restarts);
    }
    if (c.backoff != 0 && now - c.up_since >= backoff_.healthy_after) c.backoff = 0;
    if (c.inject_fault) {
      c.inject_fault = false;
      Fail(c, now, "injected fault");
      return false;
    }
    return Guard(c, now, std::forward<Fn>(step));
  }

  // The component's next step fails as if it had returned an error (operations and tests).
  void InjectFault(size_t id) { components_[id].inject_fault = true; }

  bool failed(size_t id) const { return components_[id].failed; }
  uint32_t restarts(size_t id) const { return components_[id].restarts; }
  const std::string& name(size_t id) const { return components_[id].name; }
  size_t size() const { return components_.size(); }

 private:
  struct Component {
    std::string name;
    std::function<absl::Status(route::TimeNs)> restart;
    bool failed = false;
    bool inject_fault = false;
    route::TimeNs restart_at = 0;
    route::TimeNs backoff = 0;
    route::TimeNs up_since = 0;
    uint32_t restarts = 0;
  };

  template <typename Fn>
  bool Guard(Component& c, route::TimeNs now, Fn&& fn) {
    try {
      if constexpr (std::is_same_v<std::invoke_result_t<Fn>, absl::Status>) {
        const absl::Status st = fn();
        if (st.ok()) return true;
        Fail(c, now, std::string(st.message()));
        return false;
      } else {
        fn();
        return true;
      }
    } catch (const std::exception& e) {
      Fail(c, now, e.what());
    } catch (...) {
      Fail(c, now, "unknown exception");
    }
    return false;
  }

  void Fail(Component& c, route::TimeNs now, const std::string& what) {
    c.backoff = c.backoff == 0 ? backoff_.initial : std::min(c.backoff * 2, backoff_.max);
    c.failed = true;
    c.restart_at = now + c.backoff;
    spdlog::error("component {} failed: {}; restarting in {} ms", c.name, what,
                  c.backoff / route::kMs);
  }

  Backoff backoff_;
  std::vector<Component> components_;
};

}  // namespace dmrswitch::cp
