#include "api/native_routes.h"

#include <simdjson.h>

#include "api/blocking_work.h"
#include "api/error_response.h"
#include "api/ingest_answer.h"
#include "api/status_page.h"
#include "base/json_writer.h"
#include "base/time_format.h"
#include "catalog/catalog.h"
#include "ingest/loader.h"
#include "ingest/stream_ingestor.h"
#include "log/log.h"
#include "observe/metrics.h"
#include "query/query_engine.h"
#include "query/result_format.h"
#include "workflow/execution_service.h"

namespace basin::api {

namespace {

std::string StreamInfoJson(const log::StreamInfo& info) {
  JsonWriter w;
  w.BeginObject()
      .Key("name")
      .String(info.name)
      .Key("shards")
      .Uint(info.options.shard_count)
      .Key("retention_hours")
      .Int(info.options.retention_hours)
      .Key("created")
      .String(FormatIso8601Millis(info.created_time_us))
      .Key("start_offset")
      .Uint(info.start_offset)
      .Key("end_offset")
      .Uint(info.end_offset)
      .Key("size_bytes")
      .Uint(info.size_bytes)
      .Key("segments")
      .Uint(info.segment_count)
      .EndObject();
  return w.Take();
}

void WriteSchema(JsonWriter& w, const catalog::TableSchema& schema) {
  w.Key("schema_version").Int(schema.version);
  w.Key("columns").BeginArray();
  for (const auto& c : schema.columns) {
    w.BeginObject().Key("name").String(c.name).Key("type").String(c.type).EndObject();
  }
  w.EndArray();
  w.Key("partition_columns").BeginArray();
  for (const auto& c : schema.partition_columns) {
    w.BeginObject().Key("name").String(c.name).Key("type").String(c.type).EndObject();
  }
  w.EndArray();
}

// Reads {"sql": "...", "timeout_ms": N, "max_rows": N}.
Result<std::pair<std::string, query::QueryLimits>> ParseQueryBody(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body).get(root) || !root.is_object()) {
    return Status(ErrorCode::kMalformedJson, "body must be a JSON object {\"sql\": \"...\"}");
  }
  std::string_view sql;
  if (root["sql"].get_string().get(sql) || sql.empty()) {
    return Status(ErrorCode::kInvalidArgument, "field 'sql' (a non-empty string) is required");
  }
  query::QueryLimits limits;
  int64_t v;
  if (!root["timeout_ms"].get_int64().get(v)) {
    if (v <= 0) return Status(ErrorCode::kInvalidArgument, "'timeout_ms' must be positive");
    limits.timeout_ms = v;
  }
  if (!root["max_rows"].get_int64().get(v)) {
    if (v <= 0) return Status(ErrorCode::kInvalidArgument, "'max_rows' must be positive");
    limits.max_rows = static_cast<uint64_t>(v);
  }
  return std::make_pair(std::string(sql), limits);
}

}  // namespace

// GET /v1/workflows: what the status page shows of the workflows. The full API is Step
// Functions' on the AWS endpoint; this is a summary for people.
Result<std::string> WorkflowSummaryJson(workflow::ExecutionService& service) {
  auto optional_time = [](JsonWriter& w, const char* key, std::optional<int64_t> us) {
    w.Key(key);
    if (us) {
      w.String(FormatIso8601Millis(*us));
    } else {
      w.Null();
    }
  };
  BASIN_ASSIGN_OR_RETURN(auto machines, service.ListStateMachines());
  BASIN_ASSIGN_OR_RETURN(auto schedules, service.ListSchedules());
  JsonWriter w;
  w.BeginObject().Key("state_machines").BeginArray();
  for (const workflow::StateMachineRecord& m : machines) {
    w.BeginObject().Key("name").String(m.name).Key("arn").String(m.arn);
    BASIN_ASSIGN_OR_RETURN(auto latest, service.ListExecutions(m.arn, std::nullopt, 1));
    BASIN_ASSIGN_OR_RETURN(auto running,
                           service.ListExecutions(m.arn, workflow::ExecutionState::kRunning));
    w.Key("running").Uint(running.size()).Key("latest_execution");
    if (latest.empty()) {
      w.Null();
    } else {
      const workflow::ExecutionRecord& e = latest.front();
      w.BeginObject().Key("name").String(e.name).Key("arn").String(e.arn);
      w.Key("status").String(workflow::ExecutionStateName(e.state));
      optional_time(w, "start_time", e.start_micros);
      optional_time(w, "stop_time", e.stop_micros);
      w.Key("error").String(e.error).Key("cause").String(e.cause).EndObject();
    }
    w.EndObject();
  }
  w.EndArray().Key("schedules").BeginArray();
  for (const workflow::ScheduleRecord& s : schedules) {
    w.BeginObject().Key("name").String(s.name).Key("expression").String(s.expression);
    w.Key("timezone").String(s.timezone).Key("state_machine_arn").String(s.state_machine_arn);
    w.Key("enabled").Bool(s.enabled);
    optional_time(w, "last_run", s.last_run_micros);
    optional_time(w, "next_run", s.next_run_micros);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

NativeApi::NativeApi(NativeApiContext context)
    : context_(std::move(context)),
      work_(std::make_unique<BlockingWork>(context_.blocking_threads)) {}

NativeApi::~NativeApi() = default;

void NativeApi::AddRoutes(Router& router) {
  NativeApiContext* ctx = &context_;
  BlockingWork* work = work_.get();

  router.Add({"GET", "/", "basin:GetStatusPage", "arn:basin:::status",
              [](HttpRequest&, Responder respond) {
                HttpResponse r;
                r.content_type = "text/html; charset=utf-8";
                r.body = std::string(StatusPageHtml());
                respond(std::move(r));
              }});

  router.Add(
      {"GET", "/healthz", "basin:GetHealth", "arn:basin:::health",
       [](HttpRequest&, Responder respond) { respond(JsonResponse("{\"status\":\"ok\"}")); }});

  router.Add({"GET", "/metrics", "basin:GetMetrics", "arn:basin:::metrics",
              [ctx](HttpRequest&, Responder respond) {
                HttpResponse r;
                r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                r.body = ctx->metrics->RenderPrometheus();
                respond(std::move(r));
              }});

  router.Add({"POST", "/v1/streams/{stream}/records", "basin:PutRecords",
              "arn:basin:stream:::{stream}", [ctx](HttpRequest& request, Responder respond) {
                ingest::IngestRequest in;
                in.stream = request.path_params["stream"];
                in.body = std::move(request.body);
                in.content_type = std::string(request.Header("Content-Type"));
                in.content_encoding = std::string(request.Header("Content-Encoding"));
                in.client_ip = ClientIp(request);
                in.user_agent = std::string(request.Header("User-Agent"));
                ctx->ingestor->Ingest(std::move(in), [respond](Result<ingest::IngestResult> r) {
                  if (!r.ok()) {
                    respond(ErrorResponse(r.status()));
                  } else {
                    respond(JsonResponse(IngestResultJson(*r)));
                  }
                });
              }});

  router.Add({"GET", "/v1/streams", "basin:ListStreams", "arn:basin:stream:::*",
              [ctx](HttpRequest&, Responder respond) {
                std::string body = "{\"streams\":[";
                bool first = true;
                for (const auto& info : ctx->log->ListStreams()) {
                  if (!first) body += ",";
                  first = false;
                  body += StreamInfoJson(info);
                }
                body += "]}";
                respond(JsonResponse(std::move(body)));
              }});

  router.Add({"GET", "/v1/streams/{stream}", "basin:DescribeStream", "arn:basin:stream:::{stream}",
              [ctx](HttpRequest& request, Responder respond) {
                auto info = ctx->log->DescribeStream(request.path_params["stream"]);
                if (!info.ok()) return respond(ErrorResponse(info.status()));
                respond(JsonResponse(StreamInfoJson(*info)));
              }});

  router.Add(
      {"POST", "/v1/query", "basin:Query", "arn:basin:table:::*",
       [ctx, work](HttpRequest& request, Responder respond) {
         auto parsed = ParseQueryBody(request.body);
         if (!parsed.ok()) return respond(ErrorResponse(parsed.status()));
         const bool csv = request.QueryParam("format") == "csv" ||
                          request.Header("Accept").find("text/csv") != std::string_view::npos;
         work->Post([ctx, csv, parsed = std::move(parsed).value(), respond] {
           const int64_t start_ns = MonotonicNanos();
           auto result = ctx->query_engine->Execute(parsed.first, parsed.second);
           if (ctx->metrics != nullptr) {
             const std::string outcome(result.ok() ? "ok" : ErrorCodeName(result.status().code()));
             ctx->metrics
                 ->GetCounter("basin_query_total", "SQL queries run, by outcome.",
                              {{"outcome", outcome}})
                 .Increment();
             ctx->metrics
                 ->GetHistogram("basin_query_seconds", "SQL query latency.",
                                observe::Histogram::LatencySeconds())
                 .Observe(static_cast<double>(MonotonicNanos() - start_ns) / 1e9);
           }
           if (!result.ok()) return respond(ErrorResponse(result.status()));
           HttpResponse r;
           if (csv) {
             r.content_type = "text/csv; charset=utf-8";
             r.body = query::FormatCsv(*result);
           } else {
             r.body = query::FormatJson(*result);
           }
           respond(std::move(r));
         });
       }});

  router.Add({"GET", "/v1/tables", "basin:ListTables", "arn:basin:table:::*",
              [ctx](HttpRequest&, Responder respond) {
                JsonWriter w;
                w.BeginObject().Key("tables").BeginArray();
                for (const auto& t : ctx->catalog->ListTables()) {
                  w.BeginObject().Key("name").String(t.ref.Qualified());
                  w.Key("location").String(t.location);
                  w.Key("snapshot").Int(t.current_snapshot_id);
                  WriteSchema(w, t.schema);
                  w.EndObject();
                }
                w.EndArray().EndObject();
                respond(JsonResponse(w.Take()));
              }});

  router.Add({"GET", "/v1/tables/{table}", "basin:DescribeTable", "arn:basin:table:::{table}",
              [ctx](HttpRequest& request, Responder respond) {
                auto ref = catalog::TableRef::Parse(request.path_params["table"]);
                if (!ref.ok()) return respond(ErrorResponse(ref.status()));
                auto snapshot = ctx->catalog->CurrentSnapshot(*ref);
                if (!snapshot.ok()) return respond(ErrorResponse(snapshot.status()));
                int64_t rows = 0, bytes = 0;
                for (const auto& f : snapshot->files) {
                  rows += f.row_count;
                  bytes += f.size_bytes;
                }
                JsonWriter w;
                w.BeginObject().Key("name").String(ref->Qualified());
                w.Key("snapshot").Int(snapshot->id);
                w.Key("files").Uint(snapshot->files.size());
                w.Key("rows").Int(rows);
                w.Key("size_bytes").Int(bytes);
                WriteSchema(w, snapshot->schema);
                w.EndObject();
                respond(JsonResponse(w.Take()));
              }});

  router.Add({"GET", "/v1/workflows", "states:ListStateMachines", "arn:basin:workflow:::*",
              [ctx, work](HttpRequest&, Responder respond) {
                if (ctx->workflows == nullptr) {
                  return respond(ErrorResponse(
                      Status(ErrorCode::kNotFound, "no workflow service on this server")));
                }
                // Reads the catalog: off the I/O thread.
                work->Post([ctx, respond] {
                  auto json = WorkflowSummaryJson(*ctx->workflows);
                  respond(json.ok() ? JsonResponse(std::move(json).value())
                                    : ErrorResponse(json.status()));
                });
              }});

  router.Add({"POST", "/v1/admin/flush", "basin:Flush", "arn:basin:stream:::*",
              [ctx, work](HttpRequest&, Responder respond) {
                work->Post([ctx, respond] {
                  JsonWriter w;
                  w.BeginObject().Key("flushed").BeginObject();
                  if (ctx->flush_loaders) {
                    auto flushed = ctx->flush_loaders(ctx->flush_timeout_ms);
                    if (!flushed.ok()) return respond(ErrorResponse(flushed.status()));
                    for (const auto& [stream, offset] : *flushed) {
                      w.Key(stream).BeginObject().Key("committed_offset").Uint(offset).EndObject();
                    }
                    w.EndObject().EndObject();
                    return respond(JsonResponse(w.Take()));
                  }
                  for (const auto& [stream, loader] : ctx->loaders) {
                    Status s = loader->Flush(ctx->flush_timeout_ms);
                    if (!s.ok()) return respond(ErrorResponse(s));
                    w.Key(stream)
                        .BeginObject()
                        .Key("committed_offset")
                        .Uint(loader->stats().committed_offset)
                        .EndObject();
                  }
                  w.EndObject().EndObject();
                  respond(JsonResponse(w.Take()));
                });
              }});
}

}  // namespace basin::api
