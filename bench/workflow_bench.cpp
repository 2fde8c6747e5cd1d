// basin-workflow-bench: how fast the ASL interpreter moves through states, and what a running
// execution costs in memory, each next to a same-run anchor.
//
//   pass_chain  a 1,000-state Pass chain (--chain-states) over a ~1 KiB object (--payload-bytes):
//               state transitions per second of Interpreter::Execute. Anchors, per transition:
//               `copy` = one deep copy of the state's JsonValue; `copy+text` = that copy plus two
//               Serialize calls (the input and output text a history event keeps).
//   map_inline  an inline Map over 10,000 small items (--map-items) whose ItemProcessor is one
//               Pass state: transitions (items + the Map state) per second. Anchors as above, per
//               item.
//   held        --held executions parked at a Wait state at once, each on its own thread (the
//               way an execution service runs them): heap bytes in use (mallinfo2) and resident
//               stack pages (mincore over stacks mapped here) per parked execution. Anchor: the
//               same number of bare threads parked on the same gate.
//   finished    heap held by the ExecutionResult (history + output) of one finished pass_chain
//               execution.
//   service     --held executions of the same machine started through ExecutionService (fresh
//               catalog in --tmpdir) and parked at the Wait: heap and RSS growth per RUNNING
//               execution, and StartExecution latency.
//
// Every timed run checks its result (status SUCCEEDED, output as expected); a wrong result fails
// the benchmark. Output: one JSON line per measurement on stdout, then one "summary" line with
// the medians over --runs runs; a readable table goes to stderr. See docs/benchmarks.md.

#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "base/clock.h"
#include "base/json_writer.h"
#include "catalog/catalog.h"
#include "workflow/definition.h"
#include "workflow/execution_service.h"
#include "workflow/interpreter.h"
#include "workflow/json_value.h"

namespace basin::bench {
namespace {

using workflow::ExecutionResult;
using workflow::ExecutionStatus;
using workflow::Interpreter;
using workflow::InterpreterOptions;
using workflow::JsonValue;
using workflow::StateMachine;

struct Options {
  int runs = 5;
  int chain_states = 1000;
  int map_items = 10000;
  int payload_bytes = 1024;
  int held = 200;
  int finished = 20;
  std::string tmpdir = "/tmp";  // where the service scenario puts its catalog
  double min_seconds = 0.5;     // per timed measurement (repeats the execution until reached)
};

[[noreturn]] void Die(const std::string& message) {
  std::cerr << "basin-workflow-bench: " << message << "\n";
  std::exit(1);
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value after " + std::string(a));
      return argv[++i];
    };
    if (a == "--help") {
      std::cout << "basin-workflow-bench [--runs 5] [--chain-states 1000] [--map-items 10000]\n"
                   "  [--payload-bytes 1024] [--held 200] [--finished 20] [--min-seconds 0.5]\n"
                   "  [--tmpdir /tmp]\n";
      std::exit(0);
    } else if (a == "--runs") {
      o.runs = std::stoi(value());
    } else if (a == "--chain-states") {
      o.chain_states = std::stoi(value());
    } else if (a == "--map-items") {
      o.map_items = std::stoi(value());
    } else if (a == "--payload-bytes") {
      o.payload_bytes = std::stoi(value());
    } else if (a == "--held") {
      o.held = std::stoi(value());
    } else if (a == "--finished") {
      o.finished = std::stoi(value());
    } else if (a == "--min-seconds") {
      o.min_seconds = std::stod(value());
    } else if (a == "--tmpdir") {
      o.tmpdir = value();
    } else {
      Die("unknown option " + std::string(a));
    }
  }
  if (o.runs < 1 || o.chain_states < 1 || o.map_items < 1 || o.held < 1 || o.finished < 1 ||
      o.payload_bytes < 0) {
    Die("counts must be positive");
  }
  return o;
}

// ---------------------------------------------------------------- inputs and machines

// An order-like object of about `bytes` bytes of JSON: a few typed fields and a padding string.
JsonValue Payload(int bytes) {
  JsonValue v = JsonValue::Object();
  v.Set("order_id", JsonValue::String("o-000123"));
  v.Set("customer", JsonValue::String("c-42"));
  v.Set("total", JsonValue::Double(129.95));
  v.Set("items", JsonValue::Int(3));
  v.Set("paid", JsonValue::Bool(true));
  const size_t base = v.Serialize().size() + std::string_view(",\"note\":\"\"").size();
  v.Set("note",
        JsonValue::String(std::string(bytes > static_cast<int>(base) ? bytes - base : 0, 'x')));
  return v;
}

// {"items": [{"id": 0}, {"id": 1}, ...]}
JsonValue MapInput(int items) {
  JsonValue array = JsonValue::Array();
  for (int i = 0; i < items; ++i) {
    JsonValue item = JsonValue::Object();
    item.Set("id", JsonValue::Int(i));
    array.Append(std::move(item));
  }
  JsonValue input = JsonValue::Object();
  input.Set("items", std::move(array));
  return input;
}

std::string ChainDefinition(int states) {
  JsonWriter w;
  w.BeginObject().Key("StartAt").String("S0").Key("States").BeginObject();
  for (int i = 0; i < states; ++i) {
    w.Key("S" + std::to_string(i)).BeginObject().Key("Type").String("Pass");
    if (i + 1 < states) {
      w.Key("Next").String("S" + std::to_string(i + 1));
    } else {
      w.Key("End").Bool(true);
    }
    w.EndObject();
  }
  w.EndObject().EndObject();
  return w.Take();
}

constexpr std::string_view kMapDefinition = R"({"StartAt": "Fan", "States": {"Fan": {
  "Type": "Map", "ItemsPath": "$.items", "End": true,
  "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Item",
                    "States": {"Item": {"Type": "Pass", "End": true}}}}}})";

constexpr std::string_view kHeldDefinition = R"({"StartAt": "Prepare", "States": {
  "Prepare": {"Type": "Pass", "ResultPath": "$.prepared", "Result": {"step": 1}, "Next": "Hold"},
  "Hold": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
  "Done": {"Type": "Pass", "End": true}}})";

std::shared_ptr<const StateMachine> Load(std::string_view text) {
  auto machine = workflow::LoadDefinition(text);
  if (!machine.ok()) Die("definition rejected: " + machine.status().ToString());
  return std::move(machine).value();
}

// ---------------------------------------------------------------- measuring

struct Timed {
  int64_t iterations = 0;
  double seconds = 0;
};

// Calls fn() until min_seconds of wall time have passed (at least once).
template <typename Fn>
Timed TimeLoop(double min_seconds, Fn fn) {
  const int64_t start = MonotonicNanos();
  Timed t;
  do {
    fn();
    ++t.iterations;
    t.seconds = static_cast<double>(MonotonicNanos() - start) / 1e9;
  } while (t.seconds < min_seconds);
  return t;
}

// Bytes the allocator has handed out and not got back (all arenas, mmapped chunks included).
int64_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<int64_t>(m.uordblks + m.hblkhd);
}

// A field of /proc/self/status in bytes (VmHWM).
int64_t ProcStatusBytes(std::string_view field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      return std::stoll(line.substr(field.size() + 1)) * 1024;
    }
  }
  return 0;
}

// Keeps values alive in the optimizer's eyes.
volatile size_t g_sink = 0;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// One execution's interpreter, with a fake clock so that nothing waits for real.
class Runner {
 public:
  explicit Runner(std::shared_ptr<const StateMachine> machine, workflow::Sleeper* sleeper = nullptr)
      : sleeper_(clock_) {
    InterpreterOptions options;
    options.clock = &clock_;
    options.sleeper = sleeper != nullptr ? sleeper : &sleeper_;
    interpreter_ = std::make_unique<Interpreter>(std::move(machine), options);
  }
  ExecutionResult Execute(const JsonValue& input) { return interpreter_->Execute(input); }

 private:
  FakeClock clock_;
  workflow::FakeClockSleeper sleeper_;
  std::unique_ptr<Interpreter> interpreter_;
};

void CheckSucceeded(const ExecutionResult& r, std::string_view what) {
  if (r.status != ExecutionStatus::kSucceeded) {
    Die(std::string(what) + " did not succeed: " + r.error + ": " + r.cause);
  }
}

// ---------------------------------------------------------------- throughput scenarios

struct Throughput {
  double per_s = 0;            // transitions per second, interpreter
  double copy_per_s = 0;       // anchor: deep copies per second
  double copy_text_per_s = 0;  // anchor: deep copy + 2 x Serialize per second
  int64_t executions = 0;
  size_t history_events = 0;
};

// The anchors: `units` times per pass, a copy of `value` (and, for copy+text, its text twice).
void MeasureAnchors(const Options& o, const JsonValue& value, int units, Throughput& t) {
  const Timed copy = TimeLoop(o.min_seconds, [&] {
    for (int i = 0; i < units; ++i) {
      JsonValue c = value;
      g_sink = g_sink + c.size();
    }
  });
  const Timed text = TimeLoop(o.min_seconds, [&] {
    for (int i = 0; i < units; ++i) {
      JsonValue c = value;
      g_sink = g_sink + c.Serialize().size() + c.Serialize().size();
    }
  });
  t.copy_per_s = static_cast<double>(copy.iterations) * units / copy.seconds;
  t.copy_text_per_s = static_cast<double>(text.iterations) * units / text.seconds;
}

Throughput PassChainRun(const Options& o, const std::shared_ptr<const StateMachine>& machine,
                        const JsonValue& payload) {
  Runner runner(machine);
  Throughput t;
  const Timed run = TimeLoop(o.min_seconds, [&] {
    ExecutionResult r = runner.Execute(payload);
    CheckSucceeded(r, "pass_chain");
    if (!(r.output == payload)) Die("pass_chain: the output differs from the input");
    t.history_events = r.history.size();
  });
  t.executions = run.iterations;
  t.per_s = static_cast<double>(run.iterations) * o.chain_states / run.seconds;
  MeasureAnchors(o, payload, o.chain_states, t);
  return t;
}

Throughput MapRun(const Options& o, const std::shared_ptr<const StateMachine>& machine,
                  const JsonValue& input) {
  Runner runner(machine);
  Throughput t;
  const JsonValue& items = *input.Find("items");
  const Timed run = TimeLoop(o.min_seconds, [&] {
    ExecutionResult r = runner.Execute(input);
    CheckSucceeded(r, "map_inline");
    if (!(r.output == items)) Die("map_inline: the output is not the items");
    t.history_events = r.history.size();
  });
  t.executions = run.iterations;
  // Transitions: one per item (the inner Pass) plus the Map state itself.
  t.per_s = static_cast<double>(run.iterations) * (o.map_items + 1) / run.seconds;
  MeasureAnchors(o, items.items()[o.map_items / 2], o.map_items, t);
  return t;
}

// ---------------------------------------------------------------- memory scenarios

// A Sleeper that parks every caller until Release(); Wait states block here.
class Gate final : public workflow::Sleeper {
 public:
  void SleepUntil(int64_t) override { Park(); }
  void Park() {
    std::unique_lock lock(mu_);
    ++parked_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return released_; });
  }
  void AwaitParked(int n) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return parked_ >= n; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int parked_ = 0;
  bool released_ = false;
};

struct HeldMemory {
  double heap_per_execution = 0;
  double stack_per_execution = 0;
  double heap_per_bare_thread = 0;   // anchor
  double stack_per_bare_thread = 0;  // anchor
};

// A thread on a stack we map ourselves, so that mincore() can count the stack pages it touched
// (glibc also puts the thread's descriptor and TLS there).
class StackThread {
 public:
  static constexpr size_t kStackBytes = size_t{8} << 20;  // glibc's default thread stack size

  explicit StackThread(std::function<void()> body) : body_(std::move(body)) {
    stack_ = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (stack_ == MAP_FAILED) Die("mmap of a thread stack failed");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack_, kStackBytes);
    if (pthread_create(&thread_, &attr, &StackThread::Run, this) != 0) Die("pthread_create");
    pthread_attr_destroy(&attr);
  }
  ~StackThread() { munmap(stack_, kStackBytes); }
  StackThread(const StackThread&) = delete;
  StackThread& operator=(const StackThread&) = delete;

  void Join() { pthread_join(thread_, nullptr); }

  // Bytes of the stack mapping that are resident.
  int64_t ResidentStackBytes() const {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> resident(kStackBytes / page);
    if (mincore(stack_, kStackBytes, resident.data()) != 0) Die("mincore failed");
    int64_t pages = 0;
    for (unsigned char r : resident) pages += r & 1;
    return pages * static_cast<int64_t>(page);
  }

 private:
  static void* Run(void* self) {
    static_cast<StackThread*>(self)->body_();
    return nullptr;
  }
  std::function<void()> body_;
  void* stack_ = nullptr;
  pthread_t thread_{};
};

// Starts n threads that each run body(gate) (which parks), waits until all are parked, and
// returns the heap growth and the stack pages they touched, each per thread; then releases and
// joins them.
template <typename Body>
std::pair<double, double> ParkThreads(int n, Body body) {
  Gate gate;
  const int64_t heap0 = HeapInUse();
  std::vector<std::unique_ptr<StackThread>> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.push_back(std::make_unique<StackThread>([&] { body(gate); }));
  }
  gate.AwaitParked(n);
  const int64_t heap = HeapInUse() - heap0;
  int64_t stack = 0;
  for (const auto& t : threads) stack += t->ResidentStackBytes();
  gate.Release();
  for (const auto& t : threads) t->Join();
  return {static_cast<double>(heap) / n, static_cast<double>(stack) / n};
}

HeldMemory HeldRun(const Options& o, const std::shared_ptr<const StateMachine>& machine,
                   const JsonValue& payload) {
  HeldMemory m;
  std::atomic<int> failures = 0;
  std::tie(m.heap_per_execution, m.stack_per_execution) = ParkThreads(o.held, [&](Gate& gate) {
    Runner runner(machine, &gate);
    ExecutionResult r = runner.Execute(payload);
    if (r.status != ExecutionStatus::kSucceeded) ++failures;
  });
  if (failures > 0) Die("held: " + std::to_string(failures) + " executions did not succeed");
  std::tie(m.heap_per_bare_thread, m.stack_per_bare_thread) =
      ParkThreads(o.held, [](Gate& gate) { gate.Park(); });
  return m;
}

struct ServiceMemory {
  double heap_per_execution = 0;
  double rss_per_execution = 0;
  double start_execution_ms_median = 0;
};

// The same parked executions, started through ExecutionService (its own thread per execution,
// events and checkpoints persisted in a fresh catalog): heap and RSS growth per RUNNING
// execution while all of them wait, and the latency of StartExecution.
ServiceMemory ServiceHeldRun(const Options& o, const JsonValue& payload) {
  std::string dir_template = o.tmpdir + "/basin-workflow-bench.XXXXXX";
  if (mkdtemp(dir_template.data()) == nullptr) Die("mkdtemp in " + o.tmpdir + " failed");
  const std::filesystem::path dir = dir_template;
  ServiceMemory m;
  {
    auto catalog = catalog::Catalog::Open((dir / "catalog.db").string());
    if (!catalog.ok()) Die("catalog: " + catalog.status().ToString());
    Gate gate;
    workflow::ExecutionServiceOptions options;
    options.catalog = catalog->get();
    options.clock = &SystemClock::Instance();
    options.sleeper = &gate;
    options.max_running_executions = o.held;
    auto service = workflow::ExecutionService::Open(options);
    if (!service.ok()) Die("execution service: " + service.status().ToString());
    auto machine = (*service)->CreateStateMachine("bench-held", kHeldDefinition,
                                                  "arn:aws:iam::000000000000:role/bench");
    if (!machine.ok()) Die("CreateStateMachine: " + machine.status().ToString());
    const std::string input = payload.Serialize();
    std::vector<std::string> arns;
    std::vector<double> start_ms;
    const int64_t heap0 = HeapInUse();
    const int64_t rss0 = ProcStatusBytes("VmRSS");
    for (int i = 0; i < o.held; ++i) {
      const int64_t t0 = MonotonicNanos();
      auto started = (*service)->StartExecution(machine->arn, "held-" + std::to_string(i), input);
      start_ms.push_back(static_cast<double>(MonotonicNanos() - t0) / 1e6);
      if (!started.ok()) Die("StartExecution: " + started.status().ToString());
      arns.push_back(started->arn);
    }
    gate.AwaitParked(o.held);
    m.heap_per_execution = static_cast<double>(HeapInUse() - heap0) / o.held;
    m.rss_per_execution = static_cast<double>(ProcStatusBytes("VmRSS") - rss0) / o.held;
    m.start_execution_ms_median = Median(start_ms);
    gate.Release();
    for (const std::string& arn : arns) {
      auto done = (*service)->WaitForExecution(arn);
      if (!done.ok()) Die("WaitForExecution: " + done.status().ToString());
      if (done->state != workflow::ExecutionState::kSucceeded) {
        Die("service execution " + arn + " ended " +
            std::string(workflow::ExecutionStateName(done->state)) + ": " + done->cause);
      }
    }
    (*service)->Shutdown();
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return m;
}

// Heap held by the results of `finished` pass_chain executions, per execution.
double FinishedRun(const Options& o, const std::shared_ptr<const StateMachine>& machine,
                   const JsonValue& payload) {
  Runner runner(machine);
  std::vector<ExecutionResult> kept;
  kept.reserve(o.finished);
  const int64_t heap0 = HeapInUse();
  for (int i = 0; i < o.finished; ++i) {
    kept.push_back(runner.Execute(payload));
    CheckSucceeded(kept.back(), "finished");
  }
  return static_cast<double>(HeapInUse() - heap0) / o.finished;
}

// ---------------------------------------------------------------- output

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? "" : line.substr(colon + 2);
    }
  }
  return "";
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

void Emit(const JsonWriter& w) { std::cout << w.str() << "\n" << std::flush; }

void EmitThroughput(std::string_view scenario, int run, const Throughput& t) {
  JsonWriter w;
  w.BeginObject().Key("kind").String("run").Key("scenario").String(scenario).Key("run").Int(run);
  w.Key("executions").Int(t.executions).Key("history_events").Uint(t.history_events);
  w.Key("transitions_per_s").Double(t.per_s);
  w.Key("anchor_copy_per_s").Double(t.copy_per_s);
  w.Key("anchor_copy_text_per_s").Double(t.copy_text_per_s);
  w.EndObject();
  Emit(w);
}

struct Series {
  std::vector<double> per_s, ratio_copy, ratio_copy_text;
  void Add(const Throughput& t) {
    per_s.push_back(t.per_s);
    ratio_copy.push_back(t.per_s / t.copy_per_s);
    ratio_copy_text.push_back(t.per_s / t.copy_text_per_s);
  }
  void Write(JsonWriter& w, std::string_view key) const {
    w.Key(key).BeginObject();
    w.Key("median_transitions_per_s").Double(Median(per_s));
    w.Key("median_ratio_vs_copy").Double(Median(ratio_copy));
    w.Key("median_ratio_vs_copy_text").Double(Median(ratio_copy_text));
    w.Key("transitions_per_s_by_run").BeginArray();
    for (double v : per_s) w.Double(v);
    w.EndArray().EndObject();
  }
};

int Main(int argc, char** argv) {
  const Options o = ParseOptions(argc, argv);
  const std::string load_at_start = LoadAverage();
  {
    JsonWriter w;
    w.BeginObject().Key("kind").String("env");
    w.Key("cpu_model").String(CpuModel()).Key("nproc").Int(sysconf(_SC_NPROCESSORS_ONLN));
    w.Key("load_average_at_start").String(load_at_start);
    w.Key("runs").Int(o.runs).Key("chain_states").Int(o.chain_states);
    w.Key("map_items").Int(o.map_items).Key("payload_bytes").Int(o.payload_bytes);
    w.Key("held").Int(o.held).Key("min_seconds").Double(o.min_seconds);
    w.EndObject();
    Emit(w);
  }
  const auto chain = Load(ChainDefinition(o.chain_states));
  const auto map = Load(kMapDefinition);
  const auto held = Load(kHeldDefinition);
  const JsonValue payload = Payload(o.payload_bytes);
  const JsonValue map_input = MapInput(o.map_items);

  Series chain_series, map_series;
  std::vector<double> heap_exec, stack_exec, heap_thread, stack_thread, finished_bytes;
  std::vector<double> service_heap, service_rss, service_start_ms;
  size_t chain_events = 0, map_events = 0;
  for (int run = 1; run <= o.runs; ++run) {
    const Throughput c = PassChainRun(o, chain, payload);
    EmitThroughput("pass_chain", run, c);
    chain_series.Add(c);
    chain_events = c.history_events;

    const Throughput m = MapRun(o, map, map_input);
    EmitThroughput("map_inline", run, m);
    map_series.Add(m);
    map_events = m.history_events;

    const HeldMemory h = HeldRun(o, held, payload);
    const double f = FinishedRun(o, chain, payload);
    const ServiceMemory sv = ServiceHeldRun(o, payload);
    JsonWriter w;
    w.BeginObject().Key("kind").String("run").Key("scenario").String("memory").Key("run").Int(run);
    w.Key("held_heap_bytes_per_execution").Double(h.heap_per_execution);
    w.Key("held_stack_bytes_per_execution").Double(h.stack_per_execution);
    w.Key("anchor_heap_bytes_per_bare_thread").Double(h.heap_per_bare_thread);
    w.Key("anchor_stack_bytes_per_bare_thread").Double(h.stack_per_bare_thread);
    w.Key("finished_chain_heap_bytes_per_execution").Double(f);
    w.Key("service_heap_bytes_per_running_execution").Double(sv.heap_per_execution);
    w.Key("service_rss_bytes_per_running_execution").Double(sv.rss_per_execution);
    w.Key("service_start_execution_ms_median").Double(sv.start_execution_ms_median);
    w.EndObject();
    Emit(w);
    heap_exec.push_back(h.heap_per_execution);
    stack_exec.push_back(h.stack_per_execution);
    heap_thread.push_back(h.heap_per_bare_thread);
    stack_thread.push_back(h.stack_per_bare_thread);
    finished_bytes.push_back(f);
    service_heap.push_back(sv.heap_per_execution);
    service_rss.push_back(sv.rss_per_execution);
    service_start_ms.push_back(sv.start_execution_ms_median);
    std::cerr << "run " << run << "/" << o.runs << ": chain " << static_cast<int64_t>(c.per_s)
              << " transitions/s, map " << static_cast<int64_t>(m.per_s) << " transitions/s, held "
              << static_cast<int64_t>(h.heap_per_execution) << " heap B/execution\n";
  }

  JsonWriter w;
  w.BeginObject().Key("kind").String("summary").Key("runs").Int(o.runs);
  w.Key("payload_bytes").Uint(payload.Serialize().size());
  w.Key("map_input_bytes").Uint(map_input.Serialize().size());
  chain_series.Write(w, "pass_chain");
  map_series.Write(w, "map_inline");
  w.Key("pass_chain_history_events").Uint(chain_events);
  w.Key("map_inline_history_events").Uint(map_events);
  w.Key("memory").BeginObject();
  w.Key("held_executions").Int(o.held);
  w.Key("median_held_heap_bytes_per_execution").Double(Median(heap_exec));
  w.Key("median_held_stack_bytes_per_execution").Double(Median(stack_exec));
  w.Key("median_anchor_heap_bytes_per_bare_thread").Double(Median(heap_thread));
  w.Key("median_anchor_stack_bytes_per_bare_thread").Double(Median(stack_thread));
  w.Key("median_finished_chain_heap_bytes_per_execution").Double(Median(finished_bytes));
  w.Key("median_service_heap_bytes_per_running_execution").Double(Median(service_heap));
  w.Key("median_service_rss_bytes_per_running_execution").Double(Median(service_rss));
  w.Key("median_service_start_execution_ms").Double(Median(service_start_ms));
  w.Key("process_vmhwm_bytes").Int(ProcStatusBytes("VmHWM"));
  w.EndObject().EndObject();
  Emit(w);

  std::fprintf(stderr,
               "\nWorkflows (medians of %d runs; load average at start %s)\n"
               "%-12s %14s %12s %12s\n"
               "pass_chain   %14.0f %12.3g %12.3g   (%d states, %zu B payload)\n"
               "map_inline   %14.0f %12.3g %12.3g   (%d items)\n"
               "held at Wait: %.0f B heap + %.0f B stack per execution (bare thread: %.0f B heap "
               "+ %.0f B stack)\n"
               "finished %d-state chain: %.0f B heap per kept ExecutionResult\n"
               "ExecutionService, %d RUNNING at Wait: %.0f B heap, %.0f B RSS per execution; "
               "StartExecution %.2f ms\n",
               o.runs, load_at_start.c_str(), "scenario", "transitions/s", "vs copy",
               "vs copy+text", Median(chain_series.per_s), Median(chain_series.ratio_copy),
               Median(chain_series.ratio_copy_text), o.chain_states, payload.Serialize().size(),
               Median(map_series.per_s), Median(map_series.ratio_copy),
               Median(map_series.ratio_copy_text), o.map_items, Median(heap_exec),
               Median(stack_exec), Median(heap_thread), Median(stack_thread), o.chain_states,
               Median(finished_bytes), o.held, Median(service_heap), Median(service_rss),
               Median(service_start_ms));
  return 0;
}

}  // namespace
}  // namespace basin::bench

int main(int argc, char** argv) { return basin::bench::Main(argc, argv); }
