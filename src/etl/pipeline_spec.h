#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"
#include "etl/dqdl.h"

namespace basin::etl {

// How a pipeline reads one of its sources (docs/formats/pipeline.md, `sources[].read`).
enum class ReadMode {
  kNew,                // files added since the pipeline's last successful run
  kAll,                // every file of the current snapshot
  kTouchedPartitions,  // every file of the partitions in which the primary source has new rows
};

struct SourceSpec {
  std::string name;  // the SQL name inside the transform
  catalog::TableRef table;
  ReadMode read = ReadMode::kNew;
};

// A JSON scalar from a definition (an allowed value, a bound, a default), kept with its JSON
// kind so that it becomes the right SQL literal.
struct Literal {
  enum class Kind { kString, kNumber, kBool };
  Kind kind = Kind::kString;
  std::string text;  // the string's value, the number as written, "true"/"false"
  // As SQL: 'text' (quoted), 12.5, true.
  std::string ToSql() const;
  // For messages: "placed", 12.5, true.
  std::string ToDisplay() const;
};

enum class CleaningRuleKind {
  kRequired,
  kCast,
  kTrim,
  kLower,
  kUpper,
  kAllowedValues,
  kRange,
  kRegex,
  kDefault,
  kUtc,
  kCheck,
};
std::string_view CleaningRuleName(CleaningRuleKind kind);

// What happens to a row (or a value) that fails a cleaning rule.
enum class FailurePolicy {
  kQuarantine,  // the row goes to quarantine and no later rule sees it
  kNull,        // the value becomes NULL
  kDefault,     // the value becomes the rule's `default`
};

struct CleaningRule {
  CleaningRuleKind kind = CleaningRuleKind::kRequired;
  std::string path;                  // "$.cleaning[3]", for errors found when compiling
  std::vector<std::string> columns;  // required, trim, lower, upper
  std::string column;                // every other rule
  std::string type;                  // cast
  std::vector<std::string> formats;  // cast to DATE/TIMESTAMP
  FailurePolicy on_failure = FailurePolicy::kQuarantine;
  std::optional<Literal>
      default_value;              // cast/allowed_values/range/regex `default`, default `value`
  std::vector<Literal> values;    // allowed_values
  bool case_insensitive = false;  // allowed_values
  std::optional<Literal> min;     // range
  std::optional<Literal> max;     // range
  std::string pattern;            // regex
  std::string time_zone;          // utc
  std::string name;               // check: names the check in reasons
  std::string condition;          // check: a SQL boolean over the row; false quarantines it
  std::string reason;             // check: optional SQL text for the reason
  std::string if_present;         // check: applies only when the source has this column
};

struct DeduplicateSpec {
  std::vector<std::string> keys;
  std::string keep_latest_by;
};

enum class OutputMode { kAppend, kMerge, kReplacePartitions, kReplace };
std::string_view OutputModeName(OutputMode mode);

struct OutputSpec {
  catalog::TableRef table;
  OutputMode mode = OutputMode::kAppend;
  std::vector<std::string> keys;
  std::vector<std::string> partition_by;
};

enum class QualityAction { kWarn, kStop };

struct QualityRule {
  std::string text;  // the DQDL as written: `IsComplete "order_id"`
  DqRule rule;
  QualityAction on_failure = QualityAction::kWarn;
};

// A validated pipeline definition (docs/formats/pipeline.md). Plain data; copyable.
struct PipelineSpec {
  std::string name;
  std::string description;
  std::vector<SourceSpec> sources;  // [0] is the primary source
  std::vector<CleaningRule> cleaning;
  std::optional<DeduplicateSpec> deduplicate;
  std::string transform;  // one SELECT; "SELECT * FROM <primary>" when the file has none
  OutputSpec output;
  std::vector<QualityRule> quality;

  const SourceSpec& primary() const { return sources.front(); }
};

// Parses and validates one definition. Every error is InvalidDefinition and its message starts
// with the JSON path of the offending value: "$.cleaning[3].on_failure: ...". Malformed JSON is
// InvalidDefinition too ("$: ..."). Checks everything that does not need the catalog: names,
// required fields, unknown fields, kinds of values, rule fields, DQDL syntax, mode/keys.
Result<PipelineSpec> ParsePipelineSpec(std::string_view json);

// Reads `<dir>/*.pipeline.json`, sorted by file name. A file that does not parse fails the whole
// load (its file name in the message): a broken definition is never skipped silently. The name
// inside a file must match its file name (`orders.pipeline.json` holds "orders").
Result<std::vector<PipelineSpec>> LoadPipelineDirectory(const std::string& dir);

}  // namespace basin::etl
