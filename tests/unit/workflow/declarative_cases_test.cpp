// Runs every tests/workflow/cases/*.json file. A file holds one case object or {"cases": [...]}.
// Case fields (all optional except definition/definitionText):
//   name                       label for the test output
//   definition | definitionText the ASL document (as JSON, or as raw text for syntax errors)
//   input                      execution input (default {})
//   bigString                  N: every string "$BIG" in input and task outputs becomes N 'x's
//   seed                       random seed (States.UUID, MathRandom, jitter)
//   tasks                      {"<resource>": [{"output": v} | {"error": e, "cause": c},
//                              + optional "durationSeconds"]} answered in order, last repeats
//   expectedValidationErrors   [{"pointer": "/States/X/Next", "messageContains": "..."}]: the
//                              definition must be rejected with (at least) these errors
//   expectedOutput             the execution must succeed with this output
//   expectedError / expectedCause / expectedCauseContains   the execution must fail so
//   expectedStatus             "SUCCEEDED" | "FAILED" | "TIMED_OUT"
//   expectedHistoryTypes       the exact list of history event types
//   expectedTaskInputs         {"<resource>": [input, ...]} every call's input, in order
//   expectedItemReaderCalls    [{"resource", "input", "readerConfig"}] every ItemReader call
//   expectedExitedVariables    {"<state>": {"<name>": value}} the assignedVariables of the
//                              state's last Exited event (values parsed back from JSON text)
//   expectedTaskCallSeconds    fake-clock seconds from the start at which each task call began
//   expectedElapsedSeconds     fake-clock seconds the whole execution took
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "unit/workflow/fake_task_runner.h"
#include "workflow/definition.h"
#include "workflow/interpreter.h"

namespace basin::workflow {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string label;
  JsonValue spec;
};

// Keeps GoogleTest from dumping the bytes of a Case when a test fails.
void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

// The folder next to this file's tests/ root. If the compiler saw a relative __FILE__ (ccache
// base_dir rewrites paths), walk up from the working directory instead.
fs::path CasesDir() {
  std::error_code ec;
  fs::path from_file =
      fs::path(__FILE__).parent_path().parent_path().parent_path() / "workflow" / "cases";
  if (from_file.is_absolute() && fs::is_directory(from_file, ec)) return from_file;
  for (fs::path dir = fs::current_path(ec); !dir.empty(); dir = dir.parent_path()) {
    fs::path candidate = dir / "tests" / "workflow" / "cases";
    if (fs::is_directory(candidate, ec)) return candidate;
    if (dir == dir.parent_path()) break;
  }
  return from_file;
}

std::vector<Case> LoadCases() {
  std::vector<Case> out;
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(CasesDir(), ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".json") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    std::ifstream in(file);
    std::stringstream buf;
    buf << in.rdbuf();
    Result<JsonValue> doc = ParseJson(buf.str(), 16 << 20);
    std::string stem = file.stem().string();
    if (!doc.ok()) {
      JsonValue bad = JsonValue::Object();
      bad.Set("loadError", JsonValue::String(doc.status().ToString()));
      out.push_back({stem, bad});
      continue;
    }
    const JsonValue* cases = doc->Find("cases");
    if (cases == nullptr) {
      out.push_back({stem, *doc});
      continue;
    }
    for (size_t i = 0; i < cases->size(); ++i) {
      std::string label = stem + "_" + std::to_string(i);
      if (const JsonValue* n = cases->items()[i].Find("name")) label += "_" + n->AsString();
      out.push_back({label, cases->items()[i]});
    }
  }
  return out;
}

JsonValue ReplaceBig(const JsonValue& v, size_t n) {
  if (v.IsString() && v.AsString() == "$BIG") return JsonValue::String(std::string(n, 'x'));
  if (v.IsArray() || v.IsObject()) {
    JsonValue out = v;
    for (JsonValue& child : out.items()) child = ReplaceBig(child, n);
    return out;
  }
  return v;
}

class DeclarativeCase : public ::testing::TestWithParam<Case> {};

TEST_P(DeclarativeCase, Runs) {
  const JsonValue& spec = GetParam().spec;
  if (const JsonValue* e = spec.Find("loadError")) FAIL() << e->AsString();
  size_t big = spec.Has("bigString") ? static_cast<size_t>(spec.Find("bigString")->AsInt()) : 0;

  ParsedDefinition parsed;
  if (const JsonValue* text = spec.Find("definitionText")) {
    parsed = ParseDefinition(text->AsString());
  } else {
    const JsonValue* def = spec.Find("definition");
    ASSERT_NE(def, nullptr) << "case has no definition";
    parsed = ParseDefinition(*def);
  }
  std::string all_errors;
  for (const ValidationError& e : parsed.errors) all_errors += e.pointer + ": " + e.message + "\n";

  if (const JsonValue* expected = spec.Find("expectedValidationErrors")) {
    ASSERT_FALSE(parsed.errors.empty()) << "definition was accepted";
    for (const JsonValue& want : expected->items()) {
      const std::string& pointer = want.Find("pointer")->AsString();
      const JsonValue* contains = want.Find("messageContains");
      bool found = false;
      for (const ValidationError& e : parsed.errors) {
        found =
            found ||
            (e.pointer == pointer &&
             (contains == nullptr || e.message.find(contains->AsString()) != std::string::npos));
      }
      EXPECT_TRUE(found) << "no error at " << pointer << "; got:\n" << all_errors;
    }
    return;
  }
  ASSERT_TRUE(parsed.errors.empty()) << all_errors;

  FakeClock clock;
  FakeClockSleeper sleeper(clock);
  testing::FakeTaskRunner tasks(clock);
  if (const JsonValue* scripts = spec.Find("tasks")) {
    for (size_t i = 0; i < scripts->keys().size(); ++i) {
      std::vector<testing::FakeTaskResult> results;
      for (const JsonValue& r : scripts->items()[i].items()) {
        testing::FakeTaskResult fr;
        if (const JsonValue* o = r.Find("output")) fr.output = ReplaceBig(*o, big);
        if (const JsonValue* e = r.Find("error")) {
          fr.ok = false;
          fr.error = e->AsString();
          if (const JsonValue* c = r.Find("cause")) fr.cause = c->AsString();
        }
        if (const JsonValue* d = r.Find("durationSeconds")) fr.duration_seconds = d->AsInt();
        results.push_back(std::move(fr));
      }
      tasks.Script(scripts->keys()[i], std::move(results));
    }
  }
  InterpreterOptions options;
  options.clock = &clock;
  options.sleeper = &sleeper;
  options.task_runner = &tasks;
  if (const JsonValue* seed = spec.Find("seed")) options.random_seed = seed->AsInt();
  if (const JsonValue* limit = spec.Find("maxStateTransitions")) {
    options.max_state_transitions = limit->AsInt();
  }
  JsonValue input = JsonValue::Object();
  if (const JsonValue* in = spec.Find("input")) input = ReplaceBig(*in, big);
  int64_t start = clock.NowMicros();
  Interpreter interpreter(parsed.machine, options);
  ExecutionResult result = interpreter.Execute(input);

  std::string history;
  for (const HistoryEvent& e : result.history) history += e.ToJson().Serialize() + "\n";
  SCOPED_TRACE("history:\n" + history);

  if (const JsonValue* out = spec.Find("expectedOutput")) {
    ASSERT_EQ(result.status, ExecutionStatus::kSucceeded) << result.error << ": " << result.cause;
    EXPECT_EQ(result.output.Serialize(), out->Serialize());
    EXPECT_TRUE(result.output == *out);
  }
  if (const JsonValue* err = spec.Find("expectedError")) {
    ASSERT_NE(result.status, ExecutionStatus::kSucceeded) << result.output.Serialize();
    EXPECT_EQ(result.error, err->AsString()) << result.cause;
  }
  if (const JsonValue* cause = spec.Find("expectedCause")) {
    EXPECT_EQ(result.cause, cause->AsString());
  }
  if (const JsonValue* cause = spec.Find("expectedCauseContains")) {
    EXPECT_NE(result.cause.find(cause->AsString()), std::string::npos) << result.cause;
  }
  if (const JsonValue* status = spec.Find("expectedStatus")) {
    const char* names[] = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"};
    EXPECT_EQ(names[static_cast<int>(result.status)], status->AsString());
  }
  if (const JsonValue* types = spec.Find("expectedHistoryTypes")) {
    JsonValue got = JsonValue::Array();
    for (const HistoryEvent& e : result.history) got.Append(JsonValue::String(e.type));
    EXPECT_EQ(got.Serialize(), types->Serialize());
  }
  if (const JsonValue* inputs = spec.Find("expectedTaskInputs")) {
    for (size_t i = 0; i < inputs->keys().size(); ++i) {
      JsonValue got = JsonValue::Array();
      for (const auto& call : tasks.calls()) {
        if (call.resource == inputs->keys()[i]) got.Append(call.input);
      }
      EXPECT_EQ(got.Serialize(), inputs->items()[i].Serialize()) << inputs->keys()[i];
    }
  }
  if (const JsonValue* readers = spec.Find("expectedItemReaderCalls")) {
    JsonValue got = JsonValue::Array();
    for (const auto& call : tasks.calls()) {
      if (!call.item_reader) continue;
      JsonValue c = JsonValue::Object();
      c.Set("resource", JsonValue::String(call.resource));
      c.Set("input", call.input);
      c.Set("readerConfig", call.reader_config);
      got.Append(std::move(c));
    }
    EXPECT_EQ(got.Serialize(), readers->Serialize());
  }
  if (const JsonValue* vars = spec.Find("expectedExitedVariables")) {
    for (size_t i = 0; i < vars->keys().size(); ++i) {
      JsonValue got = JsonValue::Object();
      for (const HistoryEvent& e : result.history) {
        if (!e.type.ends_with("StateExited")) continue;
        const JsonValue* name = e.details.Find("name");
        if (name == nullptr || name->AsString() != vars->keys()[i]) continue;
        got = JsonValue::Object();
        if (const JsonValue* assigned = e.details.Find("assignedVariables")) {
          for (size_t k = 0; k < assigned->keys().size(); ++k) {
            got.Set(assigned->keys()[k], ParseJson(assigned->items()[k].AsString()).value());
          }
        }
      }
      EXPECT_EQ(got.Serialize(), vars->items()[i].Serialize()) << vars->keys()[i];
    }
  }
  if (const JsonValue* times = spec.Find("expectedTaskCallSeconds")) {
    JsonValue got = JsonValue::Array();
    for (const auto& call : tasks.calls()) {
      int64_t us = call.at_micros - start;
      got.Append(us % 1'000'000 == 0 ? JsonValue::Int(us / 1'000'000)
                                     : JsonValue::Double(static_cast<double>(us) / 1e6));
    }
    EXPECT_EQ(got.Serialize(), times->Serialize());
  }
  if (const JsonValue* elapsed = spec.Find("expectedElapsedSeconds")) {
    EXPECT_EQ(clock.NowMicros() - start, elapsed->AsInt() * 1'000'000);
  }
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  std::string name;
  for (char c : info.param.label) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Cases, DeclarativeCase, ::testing::ValuesIn(LoadCases()), CaseName);

TEST(DeclarativeCases, FolderIsNotEmpty) { EXPECT_GE(LoadCases().size(), 50u); }

}  // namespace
}  // namespace basin::workflow
