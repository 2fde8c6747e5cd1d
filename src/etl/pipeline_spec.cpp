#include "etl/pipeline_spec.h"

#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include "base/file_util.h"
#include "query/duck_db.h"

namespace basin::etl {
namespace dom = simdjson::dom;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxDefinitionBytes = 1 << 20;

Status Invalid(const std::string& path, const std::string& message) {
  return Error(ErrorCode::kInvalidDefinition, path + ": " + message);
}

bool IsPipelineName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsSqlName(std::string_view s) {
  if (s.empty() || s.size() > 128 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Reads the members of one JSON object, remembering which were used so that any other member is
// reported as unknown.
class ObjectReader {
 public:
  static Result<ObjectReader> Of(dom::element e, std::string path) {
    dom::object object;
    if (e.get_object().get(object)) return Invalid(path, "must be an object");
    return ObjectReader(object, std::move(path));
  }

  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view key) const { return path_ + "." + std::string(key); }

  std::optional<dom::element> Find(std::string_view key) {
    used_.insert(std::string(key));
    dom::element e;
    if (object_.at_key(key).get(e)) return std::nullopt;
    return e;
  }

  Result<dom::element> Require(std::string_view key) {
    auto e = Find(key);
    if (!e) return Invalid(PathOf(key), "is required");
    return *e;
  }

  Result<std::optional<std::string>> OptionalString(std::string_view key) {
    auto e = Find(key);
    if (!e) return std::optional<std::string>();
    std::string_view s;
    if (e->get_string().get(s)) return Invalid(PathOf(key), "must be a string");
    return std::optional<std::string>(std::string(s));
  }

  Result<std::string> RequiredString(std::string_view key) {
    BASIN_ASSIGN_OR_RETURN(auto s, OptionalString(key));
    if (!s) return Invalid(PathOf(key), "is required");
    if (s->empty()) return Invalid(PathOf(key), "must not be empty");
    return *s;
  }

  Result<std::vector<std::string>> StringList(std::string_view key, bool required) {
    std::vector<std::string> out;
    auto e = Find(key);
    if (!e) {
      if (required) return Invalid(PathOf(key), "is required");
      return out;
    }
    dom::array array;
    if (e->get_array().get(array)) return Invalid(PathOf(key), "must be an array of strings");
    size_t i = 0;
    for (dom::element item : array) {
      std::string_view s;
      const std::string item_path = PathOf(key) + "[" + std::to_string(i++) + "]";
      if (item.get_string().get(s)) return Invalid(item_path, "must be a string");
      if (s.empty()) return Invalid(item_path, "must not be empty");
      out.emplace_back(s);
    }
    if (required && out.empty()) return Invalid(PathOf(key), "must not be empty");
    return out;
  }

  Result<bool> OptionalBool(std::string_view key, bool fallback) {
    auto e = Find(key);
    if (!e) return fallback;
    bool b = false;
    if (e->get_bool().get(b)) return Invalid(PathOf(key), "must be true or false");
    return b;
  }

  // Fails on the first member that no Find asked for.
  Status CheckNoUnknown() const {
    for (auto field : object_) {
      if (!used_.count(std::string(field.key))) {
        return Invalid(PathOf(field.key), "unknown field");
      }
    }
    return Status::Ok();
  }

 private:
  ObjectReader(dom::object object, std::string path) : object_(object), path_(std::move(path)) {}
  dom::object object_;
  std::string path_;
  std::set<std::string> used_;
};

Result<Literal> LiteralOf(dom::element e, const std::string& path) {
  Literal l;
  switch (e.type()) {
    case dom::element_type::STRING:
      l.kind = Literal::Kind::kString;
      l.text = std::string(e.get_string().value());
      return l;
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      l.kind = Literal::Kind::kNumber;
      l.text = simdjson::minify(e);
      return l;
    case dom::element_type::BOOL:
      l.kind = Literal::Kind::kBool;
      l.text = e.get_bool().value() ? "true" : "false";
      return l;
    default: return Invalid(path, "must be a string, a number or a boolean");
  }
}

Result<std::optional<Literal>> OptionalLiteral(ObjectReader& r, std::string_view key) {
  auto e = r.Find(key);
  if (!e) return std::optional<Literal>();
  BASIN_ASSIGN_OR_RETURN(Literal l, LiteralOf(*e, r.PathOf(key)));
  return std::optional<Literal>(std::move(l));
}

Result<FailurePolicy> PolicyOf(ObjectReader& r) {
  BASIN_ASSIGN_OR_RETURN(auto text, r.OptionalString("on_failure"));
  if (!text || *text == "quarantine") return FailurePolicy::kQuarantine;
  if (*text == "null") return FailurePolicy::kNull;
  if (*text == "default") return FailurePolicy::kDefault;
  return Invalid(r.PathOf("on_failure"),
                 "must be quarantine, null or default, not '" + *text + "'");
}

// A DuckDB type as the catalog accepts it: words, numbers, parentheses, commas, brackets.
bool IsPlainType(std::string_view type) {
  int depth = 0;
  for (char c : type) {
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) return false;
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ' ' || c == '(' ||
          c == ')' || c == ',' || c == '[' || c == ']')) {
      return false;
    }
  }
  return depth == 0 && !type.empty();
}

Result<CleaningRule> ParseCleaningRule(dom::element e, const std::string& path) {
  BASIN_ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Of(e, path));
  BASIN_ASSIGN_OR_RETURN(std::string kind, r.RequiredString("rule"));
  CleaningRule rule;
  rule.path = path;
  auto column = [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(rule.column, r.RequiredString("column"));
    return Status::Ok();
  };
  auto columns = [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(rule.columns, r.StringList("columns", /*required=*/true));
    return Status::Ok();
  };
  // A policy other than quarantine; `default` then needs the rule's `default` value.
  auto policy = [&]() -> Status {
    BASIN_ASSIGN_OR_RETURN(rule.on_failure, PolicyOf(r));
    BASIN_ASSIGN_OR_RETURN(rule.default_value, OptionalLiteral(r, "default"));
    if (rule.on_failure == FailurePolicy::kDefault && !rule.default_value) {
      return Invalid(r.PathOf("default"), "is required when on_failure is default");
    }
    if (rule.on_failure != FailurePolicy::kDefault && rule.default_value) {
      return Invalid(r.PathOf("default"), "is only used when on_failure is default");
    }
    return Status::Ok();
  };
  if (kind == "required") {
    rule.kind = CleaningRuleKind::kRequired;
    BASIN_RETURN_IF_ERROR(columns());
  } else if (kind == "trim" || kind == "lower" || kind == "upper") {
    rule.kind = kind == "trim"    ? CleaningRuleKind::kTrim
                : kind == "lower" ? CleaningRuleKind::kLower
                                  : CleaningRuleKind::kUpper;
    BASIN_RETURN_IF_ERROR(columns());
  } else if (kind == "cast") {
    rule.kind = CleaningRuleKind::kCast;
    BASIN_RETURN_IF_ERROR(column());
    BASIN_ASSIGN_OR_RETURN(rule.type, r.RequiredString("type"));
    if (!IsPlainType(rule.type)) return Invalid(r.PathOf("type"), "is not a plain DuckDB type");
    BASIN_ASSIGN_OR_RETURN(rule.formats, r.StringList("formats", false));
    BASIN_RETURN_IF_ERROR(policy());
  } else if (kind == "allowed_values") {
    rule.kind = CleaningRuleKind::kAllowedValues;
    BASIN_RETURN_IF_ERROR(column());
    BASIN_ASSIGN_OR_RETURN(dom::element values, r.Require("values"));
    dom::array array;
    if (values.get_array().get(array) || array.size() == 0) {
      return Invalid(r.PathOf("values"), "must be a non-empty array");
    }
    size_t i = 0;
    for (dom::element v : array) {
      BASIN_ASSIGN_OR_RETURN(Literal l,
                             LiteralOf(v, r.PathOf("values") + "[" + std::to_string(i++) + "]"));
      rule.values.push_back(std::move(l));
    }
    BASIN_ASSIGN_OR_RETURN(rule.case_insensitive, r.OptionalBool("case_insensitive", false));
    BASIN_RETURN_IF_ERROR(policy());
  } else if (kind == "range") {
    rule.kind = CleaningRuleKind::kRange;
    BASIN_RETURN_IF_ERROR(column());
    BASIN_ASSIGN_OR_RETURN(rule.min, OptionalLiteral(r, "min"));
    BASIN_ASSIGN_OR_RETURN(rule.max, OptionalLiteral(r, "max"));
    if (!rule.min && !rule.max) return Invalid(path, "range needs min, max or both");
    BASIN_RETURN_IF_ERROR(policy());
  } else if (kind == "regex") {
    rule.kind = CleaningRuleKind::kRegex;
    BASIN_RETURN_IF_ERROR(column());
    BASIN_ASSIGN_OR_RETURN(rule.pattern, r.RequiredString("pattern"));
    BASIN_RETURN_IF_ERROR(policy());
  } else if (kind == "default") {
    rule.kind = CleaningRuleKind::kDefault;
    BASIN_RETURN_IF_ERROR(column());
    BASIN_ASSIGN_OR_RETURN(dom::element value, r.Require("value"));
    BASIN_ASSIGN_OR_RETURN(Literal l, LiteralOf(value, r.PathOf("value")));
    rule.default_value = std::move(l);
  } else if (kind == "utc") {
    rule.kind = CleaningRuleKind::kUtc;
    BASIN_RETURN_IF_ERROR(column());
    BASIN_ASSIGN_OR_RETURN(rule.time_zone, r.RequiredString("time_zone"));
  } else if (kind == "check") {
    rule.kind = CleaningRuleKind::kCheck;
    BASIN_ASSIGN_OR_RETURN(rule.name, r.RequiredString("name"));
    if (!IsSqlName(rule.name)) return Invalid(r.PathOf("name"), "must match [a-z_][a-z0-9_]*");
    BASIN_ASSIGN_OR_RETURN(rule.condition, r.RequiredString("condition"));
    BASIN_ASSIGN_OR_RETURN(auto reason, r.OptionalString("reason"));
    rule.reason = reason.value_or("");
    BASIN_ASSIGN_OR_RETURN(auto if_present, r.OptionalString("if_present"));
    rule.if_present = if_present.value_or("");
    // A row either passes or goes to quarantine: there is no one value to null or default.
    BASIN_ASSIGN_OR_RETURN(rule.on_failure, PolicyOf(r));
    if (rule.on_failure != FailurePolicy::kQuarantine) {
      return Invalid(r.PathOf("on_failure"), "a check can only quarantine its row");
    }
  } else {
    return Invalid(r.PathOf("rule"), "unknown rule '" + kind +
                                         "' (known: required, cast, trim, lower, upper, "
                                         "allowed_values, range, regex, default, utc, check)");
  }
  BASIN_RETURN_IF_ERROR(r.CheckNoUnknown());
  return rule;
}

Status ParseSources(ObjectReader& root, PipelineSpec& spec) {
  BASIN_ASSIGN_OR_RETURN(dom::element sources, root.Require("sources"));
  dom::array array;
  if (sources.get_array().get(array) || array.size() == 0) {
    return Invalid("$.sources", "must be a non-empty array");
  }
  std::set<std::string> names;
  size_t i = 0;
  for (dom::element e : array) {
    const std::string path = "$.sources[" + std::to_string(i) + "]";
    BASIN_ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Of(e, path));
    SourceSpec source;
    BASIN_ASSIGN_OR_RETURN(source.name, r.RequiredString("name"));
    if (!IsSqlName(source.name)) {
      return Invalid(r.PathOf("name"), "must match [a-z_][a-z0-9_]*");
    }
    if (!names.insert(source.name).second) {
      return Invalid(r.PathOf("name"), "'" + source.name + "' is used twice");
    }
    BASIN_ASSIGN_OR_RETURN(std::string table, r.RequiredString("table"));
    auto ref = catalog::TableRef::Parse(table);
    if (!ref.ok()) return Invalid(r.PathOf("table"), ref.status().message());
    source.table = *ref;
    BASIN_ASSIGN_OR_RETURN(auto read, r.OptionalString("read"));
    if (!read || *read == "new") {
      source.read = ReadMode::kNew;
    } else if (*read == "all") {
      source.read = ReadMode::kAll;
    } else if (*read == "touched_partitions") {
      if (i == 0) {
        return Invalid(r.PathOf("read"),
                       "the primary source reads new or all rows, not touched_partitions");
      }
      source.read = ReadMode::kTouchedPartitions;
    } else {
      return Invalid(r.PathOf("read"), "must be new, all or touched_partitions");
    }
    BASIN_RETURN_IF_ERROR(r.CheckNoUnknown());
    spec.sources.push_back(std::move(source));
    ++i;
  }
  return Status::Ok();
}

Status ParseOutput(ObjectReader& root, PipelineSpec& spec) {
  BASIN_ASSIGN_OR_RETURN(dom::element output, root.Require("output"));
  BASIN_ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Of(output, "$.output"));
  BASIN_ASSIGN_OR_RETURN(std::string table, r.RequiredString("table"));
  auto ref = catalog::TableRef::Parse(table);
  if (!ref.ok()) return Invalid(r.PathOf("table"), ref.status().message());
  if (ref->zone != "processed" && ref->zone != "curated") {
    return Invalid(r.PathOf("table"), "must be in the processed or curated zone");
  }
  spec.output.table = *ref;
  BASIN_ASSIGN_OR_RETURN(auto mode, r.OptionalString("mode"));
  if (!mode || *mode == "append") {
    spec.output.mode = OutputMode::kAppend;
  } else if (*mode == "merge") {
    spec.output.mode = OutputMode::kMerge;
  } else if (*mode == "replace_partitions") {
    spec.output.mode = OutputMode::kReplacePartitions;
  } else if (*mode == "replace") {
    spec.output.mode = OutputMode::kReplace;
  } else {
    return Invalid(r.PathOf("mode"), "must be append, merge, replace_partitions or replace");
  }
  BASIN_ASSIGN_OR_RETURN(spec.output.keys, r.StringList("keys", false));
  if (spec.output.mode == OutputMode::kMerge && spec.output.keys.empty()) {
    return Invalid(r.PathOf("keys"), "is required for mode merge");
  }
  BASIN_ASSIGN_OR_RETURN(spec.output.partition_by, r.StringList("partition_by", false));
  if (spec.output.mode == OutputMode::kReplacePartitions && spec.output.partition_by.empty()) {
    return Invalid(r.PathOf("partition_by"), "is required for mode replace_partitions");
  }
  return r.CheckNoUnknown();
}

Status ParseQuality(ObjectReader& root, PipelineSpec& spec) {
  auto quality = root.Find("quality");
  if (!quality) return Status::Ok();
  dom::array array;
  if (quality->get_array().get(array)) return Invalid("$.quality", "must be an array");
  size_t i = 0;
  for (dom::element e : array) {
    const std::string path = "$.quality[" + std::to_string(i++) + "]";
    BASIN_ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Of(e, path));
    QualityRule q;
    BASIN_ASSIGN_OR_RETURN(q.text, r.RequiredString("rule"));
    auto parsed = ParseDqRule(q.text);
    if (!parsed.ok()) return Invalid(r.PathOf("rule"), parsed.status().message());
    q.rule = std::move(parsed).value();
    BASIN_ASSIGN_OR_RETURN(auto action, r.OptionalString("on_failure"));
    if (!action || *action == "warn") {
      q.on_failure = QualityAction::kWarn;
    } else if (*action == "stop") {
      q.on_failure = QualityAction::kStop;
    } else {
      return Invalid(r.PathOf("on_failure"), "must be warn or stop");
    }
    BASIN_RETURN_IF_ERROR(r.CheckNoUnknown());
    spec.quality.push_back(std::move(q));
  }
  return Status::Ok();
}

}  // namespace

std::string Literal::ToSql() const {
  return kind == Kind::kString ? query::QuoteLiteral(text) : text;
}

std::string Literal::ToDisplay() const { return kind == Kind::kString ? "'" + text + "'" : text; }

std::string_view CleaningRuleName(CleaningRuleKind kind) {
  switch (kind) {
    case CleaningRuleKind::kRequired: return "required";
    case CleaningRuleKind::kCast: return "cast";
    case CleaningRuleKind::kTrim: return "trim";
    case CleaningRuleKind::kLower: return "lower";
    case CleaningRuleKind::kUpper: return "upper";
    case CleaningRuleKind::kAllowedValues: return "allowed_values";
    case CleaningRuleKind::kRange: return "range";
    case CleaningRuleKind::kRegex: return "regex";
    case CleaningRuleKind::kDefault: return "default";
    case CleaningRuleKind::kUtc: return "utc";
    case CleaningRuleKind::kCheck: return "check";
  }
  return "unknown";
}

std::string_view OutputModeName(OutputMode mode) {
  switch (mode) {
    case OutputMode::kAppend: return "append";
    case OutputMode::kMerge: return "merge";
    case OutputMode::kReplacePartitions: return "replace_partitions";
    case OutputMode::kReplace: return "replace";
  }
  return "append";
}

Result<PipelineSpec> ParsePipelineSpec(std::string_view json) {
  dom::parser parser;
  dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root)) {
    return Invalid("$", std::string("not valid JSON: ") + simdjson::error_message(error));
  }
  BASIN_ASSIGN_OR_RETURN(ObjectReader r, ObjectReader::Of(root, "$"));
  PipelineSpec spec;
  BASIN_ASSIGN_OR_RETURN(spec.name, r.RequiredString("name"));
  if (!IsPipelineName(spec.name)) return Invalid("$.name", "must match [a-z0-9_]{1,64}");
  BASIN_ASSIGN_OR_RETURN(auto description, r.OptionalString("description"));
  spec.description = description.value_or("");
  BASIN_RETURN_IF_ERROR(ParseSources(r, spec));

  if (auto cleaning = r.Find("cleaning")) {
    dom::array array;
    if (cleaning->get_array().get(array)) return Invalid("$.cleaning", "must be an array");
    size_t i = 0;
    for (dom::element e : array) {
      BASIN_ASSIGN_OR_RETURN(CleaningRule rule,
                             ParseCleaningRule(e, "$.cleaning[" + std::to_string(i++) + "]"));
      spec.cleaning.push_back(std::move(rule));
    }
  }

  if (auto dedup = r.Find("deduplicate")) {
    BASIN_ASSIGN_OR_RETURN(ObjectReader d, ObjectReader::Of(*dedup, "$.deduplicate"));
    DeduplicateSpec spec_dedup;
    BASIN_ASSIGN_OR_RETURN(spec_dedup.keys, d.StringList("keys", true));
    BASIN_ASSIGN_OR_RETURN(spec_dedup.keep_latest_by, d.RequiredString("keep_latest_by"));
    BASIN_RETURN_IF_ERROR(d.CheckNoUnknown());
    spec.deduplicate = std::move(spec_dedup);
  }

  BASIN_ASSIGN_OR_RETURN(auto transform, r.OptionalString("transform"));
  if (transform) {
    std::string t = *transform;
    while (!t.empty() && (std::isspace(static_cast<unsigned char>(t.back())) || t.back() == ';')) {
      t.pop_back();
    }
    if (t.find_first_not_of(" \t\r\n") == std::string::npos) {
      return Invalid("$.transform", "must not be empty");
    }
    spec.transform = t;
  } else {
    spec.transform = "SELECT * FROM " + query::QuoteIdentifier(spec.primary().name);
  }

  BASIN_RETURN_IF_ERROR(ParseOutput(r, spec));
  BASIN_RETURN_IF_ERROR(ParseQuality(r, spec));
  BASIN_RETURN_IF_ERROR(r.CheckNoUnknown());
  for (const SourceSpec& s : spec.sources) {
    if (s.table == spec.output.table) {
      return Invalid("$.output.table", "must not be one of the pipeline's sources");
    }
  }
  return spec;
}

Result<std::vector<PipelineSpec>> LoadPipelineDirectory(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = ".pipeline.json";
    if (name.size() > suffix.size() && name.ends_with(suffix)) files.push_back(entry.path());
  }
  if (ec) return ErrnoStatus(ec.value(), "listing " + dir);
  std::sort(files.begin(), files.end());
  std::vector<PipelineSpec> specs;
  std::set<std::string> names;
  for (const fs::path& file : files) {
    BASIN_ASSIGN_OR_RETURN(std::string text, ReadFile(file.string(), kMaxDefinitionBytes));
    auto spec = ParsePipelineSpec(text);
    if (!spec.ok()) return spec.status().WithContext(file.filename().string());
    const std::string stem =
        file.filename().string().substr(0, file.filename().string().size() - 14);
    if (spec->name != stem) {
      return Error(
          ErrorCode::kInvalidDefinition,
          file.filename().string() + ": $.name: '" + spec->name + "' does not match the file name");
    }
    names.insert(spec->name);
    specs.push_back(std::move(spec).value());
  }
  return specs;
}

}  // namespace basin::etl
