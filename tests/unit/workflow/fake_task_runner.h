#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "workflow/interpreter.h"

namespace basin::workflow::testing {

// One scripted answer of a fake task: an output or an error, after `duration_seconds` of fake
// time (which lets TimeoutSeconds/HeartbeatSeconds fire).
struct FakeTaskResult {
  bool ok = true;
  JsonValue output;
  std::string error, cause;
  int64_t duration_seconds = 0;
};

// A TaskRunner that answers from a script per resource: the n-th call to a resource gets the
// n-th answer, the last answer repeats, and a resource with no script echoes its input. Records
// every call (resource, input, fake time) for the tests to check. Not thread-safe.
class FakeTaskRunner final : public TaskRunner {
 public:
  struct Call {
    std::string resource;
    JsonValue input;
    int64_t at_micros;
    bool item_reader = false;
    JsonValue reader_config;
  };

  explicit FakeTaskRunner(FakeClock& clock) : clock_(clock) {}

  void Script(const std::string& resource, std::vector<FakeTaskResult> results) {
    scripts_[resource] = std::move(results);
  }

  Outcome<JsonValue> Run(const TaskRequest& request) override {
    calls_.push_back({request.resource, request.input, clock_.NowMicros(), request.item_reader,
                      request.reader_config});
    auto it = scripts_.find(request.resource);
    if (it == scripts_.end() || it->second.empty()) return request.input;
    size_t& next = cursor_[request.resource];
    const FakeTaskResult& r = it->second[std::min(next, it->second.size() - 1)];
    ++next;
    clock_.Advance(r.duration_seconds * 1'000'000);
    if (!r.ok) return MakeError(r.error, r.cause);
    return r.output;
  }

  const std::vector<Call>& calls() const { return calls_; }

 private:
  FakeClock& clock_;
  std::map<std::string, std::vector<FakeTaskResult>> scripts_;
  std::map<std::string, size_t> cursor_;
  std::vector<Call> calls_;
};

}  // namespace basin::workflow::testing
