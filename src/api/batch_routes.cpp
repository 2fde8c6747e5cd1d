#include "api/batch_routes.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "api/blocking_work.h"
#include "api/error_response.h"
#include "base/file_util.h"
#include "base/json_writer.h"
#include "base/time_format.h"
#include "etl/pipeline_runner.h"
#include "etl/pipeline_set.h"
#include "ingest/batch_loader.h"
#include "ingest/object_ingest.h"

namespace basin::api {
namespace {

constexpr std::string_view kFilesSuffix = "/files";

// An upload body staged as a file for the loaders, removed when this goes out of scope.
class StagedUpload {
 public:
  static Result<std::unique_ptr<StagedUpload>> Write(const std::string& dir,
                                                     const std::string& body) {
    static std::atomic<uint64_t> counter{0};
    BASIN_RETURN_IF_ERROR(CreateDirectories(dir));
    const std::string path = dir + "/upload-" + std::to_string(getpid()) + "-" +
                             std::to_string(counter.fetch_add(1)) + ".tmp";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
      return Error(ErrorCode::kIoError, "cannot stage the upload in " + dir);
    }
    return std::unique_ptr<StagedUpload>(new StagedUpload(path));
  }
  ~StagedUpload() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit StagedUpload(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

void WriteStringArray(JsonWriter& w, const char* key, const std::vector<std::string>& values) {
  w.Key(key).BeginArray();
  for (const std::string& v : values) w.String(v);
  w.EndArray();
}

std::string LoadReportJson(const ingest::LoadReport& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("table").String(r.table.Qualified());
  w.Key("original_name").String(r.original_name);
  w.Key("sha256").String(r.sha256);
  w.Key("already_loaded").Bool(r.already_loaded);
  w.Key("rows_loaded").Int(r.rows_loaded);
  w.Key("rows_quarantined").Int(r.rows_quarantined);
  w.Key("bytes").Uint(r.bytes);
  w.Key("format").String(r.format);
  w.Key("encoding").String(r.encoding);
  w.Key("schema_version").Int(r.schema_version);
  WriteStringArray(w, "columns_added", r.columns_added);
  WriteStringArray(w, "columns_widened", r.columns_widened);
  w.Key("columns").BeginArray();
  for (const ingest::LoadedColumn& c : r.columns) {
    w.BeginObject()
        .Key("name")
        .String(c.name)
        .Key("inferred_type")
        .String(c.inferred_type)
        .Key("table_type")
        .String(c.table_type)
        .Key("nullable")
        .Bool(c.nullable)
        .EndObject();
  }
  w.EndArray();
  w.Key("kept_at").String(r.kept_at);
  w.Key("load_id").String(r.load_id);
  w.Key("duration_ms").Int(r.duration_ms);
  w.EndObject();
  return w.Take();
}

std::string ObjectReportJson(const ingest::ObjectIngestReport& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("object_key").String(r.object_key);
  w.Key("sha256").String(r.sha256);
  w.Key("original_name").String(r.original_name);
  w.Key("duplicate").Bool(r.duplicate);
  w.Key("size_bytes").Uint(r.size_bytes);
  if (!r.duplicate) {
    const ingest::ObjectMetadata& m = r.metadata;
    w.Key("content_type").String(m.content_type);
    if (m.image_format) w.Key("image_format").String(*m.image_format);
    if (m.width) w.Key("width").Int(*m.width);
    if (m.height) w.Key("height").Int(*m.height);
    if (m.text_encoding) w.Key("text_encoding").String(*m.text_encoding);
    if (m.line_count) w.Key("line_count").Int(*m.line_count);
    if (m.word_count) w.Key("word_count").Int(*m.word_count);
  }
  if (r.product_id) w.Key("product_id").String(*r.product_id);
  w.EndObject();
  return w.Take();
}

void WriteRunRecord(JsonWriter& w, const etl::RunRecord& r) {
  w.BeginObject();
  w.Key("run_id").String(r.run_id);
  w.Key("pipeline").String(r.pipeline);
  w.Key("kind").String(r.kind);
  w.Key("status").String(etl::RunStatusName(r.status));
  w.Key("started_at").String(FormatIso8601Millis(r.started_at_us));
  w.Key("finished_at").String(FormatIso8601Millis(r.finished_at_us));
  w.Key("duration_ms").Int(r.duration_ms);
  w.Key("rows_in").Int(r.rows_in);
  w.Key("rows_out").Int(r.rows_out);
  w.Key("rows_quarantined").Int(r.rows_quarantined);
  w.Key("rows_duplicate").Int(r.rows_duplicate);
  w.Key("rows_written").Int(r.rows_written);
  if (!r.error.empty()) w.Key("error").String(r.error);
  w.EndObject();
}

std::string RunReportJson(const etl::RunReport& report) {
  JsonWriter w;
  w.BeginObject().Key("run");
  WriteRunRecord(w, report.record);
  w.Key("quality").BeginArray();
  for (const etl::QualityResult& q : report.quality) {
    w.BeginObject()
        .Key("rule")
        .String(q.rule)
        .Key("outcome")
        .String(q.passed ? "pass" : "fail")
        .Key("on_failure")
        .String(q.on_failure == etl::QualityAction::kStop ? "stop" : "warn")
        .Key("actual_value")
        .String(q.actual_value)
        .EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

// A failed run answers with its error and, when it got a run id, its report.
HttpResponse RunFailure(const Status& status, const std::optional<etl::RunReport>& report) {
  HttpResponse response = ErrorResponse(status);
  if (!report) return response;
  JsonWriter w;
  w.BeginObject().Key("error").BeginObject();
  w.Key("code").String(ErrorCodeName(status.code())).Key("message").String(status.message());
  w.EndObject().Key("run");
  WriteRunRecord(w, report->record);
  w.EndObject();
  response.body = w.Take();
  return response;
}

}  // namespace

BatchApi::BatchApi(BatchApiContext context)
    : context_(std::move(context)),
      work_(std::make_unique<BlockingWork>(context_.blocking_threads)) {}

BatchApi::~BatchApi() = default;

bool BatchApi::IsUpload(std::string_view method, std::string_view path) {
  if (method != "POST") return false;
  if (path == "/v1/objects") return true;
  return path.starts_with("/v1/tables/") && path.ends_with(kFilesSuffix);
}

void BatchApi::AddRoutes(Router& router) {
  const BatchApiContext* ctx = &context_;
  BlockingWork* work = work_.get();

  router.Add(
      {"POST", "/v1/tables/{table}/files", "basin:PutTableFile", "arn:basin:table:::{table}",
       [ctx, work](HttpRequest& request, Responder respond) {
         auto table = catalog::TableRef::Parse(request.path_params["table"]);
         if (!table.ok()) return respond(ErrorResponse(table.status()));
         ingest::BatchSource source;
         source.table = *table;
         source.source = "upload";
         source.original_name = std::string(request.QueryParam("name"));
         if (source.original_name.empty()) source.original_name = "upload";
         for (auto [field, name] : {std::pair{&source.options.format, "format"},
                                    std::pair{&source.options.delimiter, "delimiter"},
                                    std::pair{&source.options.header, "header"},
                                    std::pair{&source.options.encoding, "encoding"}}) {
           if (!request.QueryParam(name).empty()) *field = std::string(request.QueryParam(name));
         }
         work->Post(
             [ctx, source = std::move(source), body = std::move(request.body), respond]() mutable {
               auto staged = StagedUpload::Write(ctx->upload_dir, body);
               if (!staged.ok()) return respond(ErrorResponse(staged.status()));
               body.clear();
               source.path = (*staged)->path();
               auto report = ctx->batch_loader->Load(source);
               if (!report.ok()) return respond(ErrorResponse(report.status()));
               respond(JsonResponse(LoadReportJson(*report), report->already_loaded ? 200 : 201));
             });
       }});

  router.Add({"POST", "/v1/admin/landing-sweep", "basin:SweepLanding", "arn:basin:table:::*",
              [ctx, work](HttpRequest&, Responder respond) {
                work->Post([ctx, respond] {
                  ctx->sweep_landing();
                  respond(JsonResponse("{\"swept\":true}"));
                });
              }});

  router.Add({"GET", "/v1/pipelines", "basin:ListPipelines", "arn:basin:pipeline:::*",
              [ctx](HttpRequest&, Responder respond) {
                JsonWriter w;
                w.BeginObject().Key("pipelines").BeginArray();
                for (const etl::PipelineSpec& p : ctx->pipelines->pipelines) {
                  w.BeginObject().Key("name").String(p.name);
                  w.Key("description").String(p.description);
                  w.Key("output").String(p.output.table.Qualified());
                  w.Key("mode").String(etl::OutputModeName(p.output.mode));
                  w.Key("sources").BeginArray();
                  for (const etl::SourceSpec& s : p.sources) w.String(s.table.Qualified());
                  w.EndArray().EndObject();
                }
                w.EndArray().EndObject();
                respond(JsonResponse(w.Take()));
              }});

  router.Add({"GET", "/v1/pipelines/{name}/runs", "basin:ListPipelineRuns",
              "arn:basin:pipeline:::{name}", [ctx, work](HttpRequest& request, Responder respond) {
                std::string name = request.path_params["name"];
                if (ctx->pipelines->Find(name) == nullptr) {
                  return respond(ErrorResponse(
                      Error(ErrorCode::kPipelineNotFound, "no pipeline '" + name + "'")));
                }
                int limit = 20;
                const std::string limit_text(request.QueryParam("limit"));
                if (!limit_text.empty()) {
                  limit = std::atoi(limit_text.c_str());
                  if (limit <= 0 || limit > 1000) {
                    return respond(
                        ErrorResponse(Error(ErrorCode::kInvalidArgument, "limit must be 1-1000")));
                  }
                }
                work->Post([ctx, name, limit, respond] {
                  auto runs = ctx->pipeline_runner->ListRuns(name, limit);
                  if (!runs.ok()) return respond(ErrorResponse(runs.status()));
                  JsonWriter w;
                  w.BeginObject().Key("runs").BeginArray();
                  for (const etl::RunRecord& r : *runs) WriteRunRecord(w, r);
                  w.EndArray().EndObject();
                  respond(JsonResponse(w.Take()));
                });
              }});

  // Runs a pipeline now, or replays its quarantine: the response is the run's report.
  auto run_route = [ctx, work](bool replay) {
    return [ctx, work, replay](HttpRequest& request, Responder respond) {
      const etl::PipelineSpec* spec = ctx->pipelines->Find(request.path_params["name"]);
      if (spec == nullptr) {
        return respond(ErrorResponse(Error(ErrorCode::kPipelineNotFound,
                                           "no pipeline '" + request.path_params["name"] + "'")));
      }
      work->Post([ctx, spec, replay, respond] {
        std::optional<etl::RunReport> reported;
        etl::RunOptions options;
        options.on_report = [&](const etl::RunReport& r) { reported = r; };
        auto report = replay ? ctx->pipeline_runner->ReplayQuarantine(*spec, options)
                             : ctx->pipeline_runner->Run(*spec, options);
        if (!report.ok()) return respond(RunFailure(report.status(), reported));
        respond(JsonResponse(RunReportJson(*report)));
      });
    };
  };
  router.Add({"POST", "/v1/pipelines/{name}/runs", "basin:StartPipelineRun",
              "arn:basin:pipeline:::{name}", run_route(false)});
  router.Add({"POST", "/v1/pipelines/{name}/quarantine/replay", "basin:ReplayQuarantine",
              "arn:basin:pipeline:::{name}", run_route(true)});

  router.Add({"POST", "/v1/objects", "basin:PutObject", "arn:basin:object:::*",
              [ctx, work](HttpRequest& request, Responder respond) {
                ingest::ObjectSource source;
                source.original_name = std::string(request.QueryParam("name"));
                if (source.original_name.empty()) source.original_name = "upload";
                source.source = "upload";
                if (!request.QueryParam("product_id").empty()) {
                  source.product_id = std::string(request.QueryParam("product_id"));
                }
                work->Post([ctx, source = std::move(source), body = std::move(request.body),
                            respond]() mutable {
                  source.bytes = body;
                  auto report = ctx->object_ingestor->Ingest(source);
                  if (!report.ok()) return respond(ErrorResponse(report.status()));
                  respond(JsonResponse(ObjectReportJson(*report), report->duplicate ? 200 : 201));
                });
              }});
}

}  // namespace basin::api
