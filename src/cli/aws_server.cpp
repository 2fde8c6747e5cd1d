#include "cli/aws_server.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "api/aws_endpoint.h"
#include "api/blocking_work.h"
#include "api/http_server.h"
#include "api/kinesis_api.h"
#include "api/s3_api.h"
#include "base/file_util.h"
#include "base/hash.h"
#include "base/logging.h"
#include "catalog/catalog.h"
#include "cli/platform.h"
#include "ingest/batch_loader.h"
#include "ingest/object_ingest.h"
#include "storage/bucket_store.h"

namespace basin::cli {
namespace {

constexpr char kTokenSecretFile[] = "kinesis-token.key";
constexpr size_t kTokenSecretBytes = 32;

// The key that seals Kinesis shard iterators, kept in the data directory so that iterators
// handed out before a restart still work after it (until they expire, 5 min after issue).
Result<std::string> KinesisTokenSecret(const std::string& data_dir) {
  const std::string path = data_dir + "/" + kTokenSecretFile;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    BASIN_ASSIGN_OR_RETURN(std::string secret, ReadFile(path, 1024));
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
      secret.pop_back();
    }
    if (secret.size() >= 2 * kTokenSecretBytes) return secret;
    BASIN_LOG(Warn, "aws") << path << " is too short: making a new one";
  }
  uint8_t random[kTokenSecretBytes];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return Error(ErrorCode::kInternal, "the random generator failed");
  }
  std::string secret = HexEncode(random, sizeof(random));
  BASIN_RETURN_IF_ERROR(WriteFileAtomically(path, secret + "\n"));
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  return secret;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// `<table>/<file>.csv|json|ndjson|jsonl` with a valid raw table name: the table to load the
// object into; nullopt for any other key.
std::optional<catalog::TableRef> BatchTableOf(std::string_view key) {
  const size_t slash = key.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view file = key.substr(slash + 1);
  if (file.empty() || file.find('/') != std::string_view::npos) return std::nullopt;
  const std::string lower = Lower(file);
  bool tabular = false;
  for (std::string_view ext : {".csv", ".json", ".ndjson", ".jsonl"}) {
    if (lower.size() > ext.size() && lower.ends_with(ext)) tabular = true;
  }
  if (!tabular) return std::nullopt;
  auto ref = catalog::TableRef::Parse("raw." + std::string(key.substr(0, slash)));
  if (!ref.ok()) return std::nullopt;
  return *ref;
}

// An object stored in the `landing` bucket, ingested as an upload would be.
api::LandingOutcome IngestLandingObject(Platform& platform, const storage::ObjectInfo& object,
                                        const std::string& path) {
  api::LandingOutcome outcome;
  if (auto table = BatchTableOf(object.key)) {
    ingest::BatchSource source;
    source.path = path;
    source.original_name = object.key.substr(object.key.find('/') + 1);
    source.table = *table;
    source.source = "s3";
    auto report = platform.batch_loader().Load(source);
    if (!report.ok()) {
      outcome.error = report.status();
      return outcome;
    }
    outcome.ingested = true;
    outcome.summary = report->already_loaded ? "already loaded into " + table->Qualified()
                                             : "loaded " + std::to_string(report->rows_loaded) +
                                                   " rows into " + table->Qualified();
    return outcome;
  }
  ingest::ObjectSource source;
  source.local_path = path;
  source.original_name = object.key;
  source.source = "s3";
  auto report = platform.object_ingestor().Ingest(source);
  if (!report.ok()) {
    outcome.error = report.status();
    return outcome;
  }
  outcome.ingested = true;
  outcome.summary = (report->duplicate ? "already stored object " : "stored object ") +
                    report->object_key + " in raw.objects";
  return outcome;
}

}  // namespace

struct AwsServer::Impl {
  // Destroyed in reverse order: the server first, the pool (waiting for pending work) before
  // the APIs that work uses.
  std::unique_ptr<api::KinesisApi> kinesis;
  std::unique_ptr<api::S3Api> s3;
  std::unique_ptr<api::AwsEndpoint> endpoint;
  std::unique_ptr<api::BlockingWork> work;
  std::unique_ptr<api::HttpServer> server;
  bool stopped = false;
};

AwsServer::AwsServer() : impl_(std::make_unique<Impl>()) {}

AwsServer::~AwsServer() { Stop(0); }

uint16_t AwsServer::port() const { return impl_->server->port(); }

void AwsServer::Stop(int grace_seconds) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->server) impl_->server->Stop(grace_seconds);
  impl_->work.reset();  // waits for GetRecords, CreateStream, object reads and ingests
}

Result<std::unique_ptr<AwsServer>> AwsServer::Start(Platform& platform,
                                                    const security::Authorizer* authorizer,
                                                    const AwsServerOptions& options) {
  std::unique_ptr<AwsServer> aws(new AwsServer());
  Impl& impl = *aws->impl_;
  impl.work = std::make_unique<api::BlockingWork>(options.blocking_threads);
  api::BlockingWork* work = impl.work.get();
  api::BlockingExecutor run_blocking = [work](std::function<void()> task) {
    work->Post(std::move(task));
  };

  api::KinesisApiOptions kinesis_options;
  kinesis_options.run_blocking = run_blocking;
  BASIN_ASSIGN_OR_RETURN(kinesis_options.token_secret,
                         KinesisTokenSecret(platform.options().data_dir));
  // A Kinesis stream is a Basin stream: its records reach the lake through its own loader.
  kinesis_options.on_stream_created = [&platform](const std::string& stream) {
    return platform.StartStreamLoader(stream);
  };
  kinesis_options.on_stream_deleted = [&platform](const std::string& stream) {
    platform.ForgetStreamLoader(stream);
  };
  impl.kinesis =
      std::make_unique<api::KinesisApi>(&platform.log(), &SystemClock::Instance(), kinesis_options);

  api::S3ApiOptions s3_options;
  s3_options.run_blocking = run_blocking;
  s3_options.on_landing_object = [&platform](const storage::ObjectInfo& object,
                                             const std::string& path) {
    return IngestLandingObject(platform, object, path);
  };
  impl.s3 = std::make_unique<api::S3Api>(&platform.bucket_store(), s3_options);

  api::AwsEndpointOptions endpoint_options;
  catalog::Catalog* catalog = &platform.catalog();
  endpoint_options.keys =
      [catalog](std::string_view id) -> Result<std::optional<api::AwsCredential>> {
    BASIN_ASSIGN_OR_RETURN(auto key, catalog->FindActiveAccessKey(id));
    if (!key) return std::optional<api::AwsCredential>();
    return std::optional<api::AwsCredential>(
        api::AwsCredential{std::move(key->secret), std::move(key->user_name)});
  };
  endpoint_options.authorizer = authorizer;
  endpoint_options.run_blocking = run_blocking;
  endpoint_options.kinesis = impl.kinesis.get();
  endpoint_options.workflows = &platform.workflows();
  api::S3Api* s3 = impl.s3.get();
  endpoint_options.s3.handle = [s3](api::HttpRequest& request,
                                    const api::AwsRequestContext& context, api::Responder respond) {
    s3->Handle(request, context, std::move(respond));
  };
  endpoint_options.s3.error_response = &api::S3Api::ErrorResponse;
  impl.endpoint = std::make_unique<api::AwsEndpoint>(std::move(endpoint_options));

  api::HttpServerOptions http_options;
  http_options.address = options.address;
  http_options.port = options.port;
  http_options.threads = options.threads;
  http_options.max_body_bytes = options.max_body_bytes;
  http_options.server_name = "basin";
  http_options.metrics = &platform.metrics();
  api::AwsEndpoint* endpoint = impl.endpoint.get();
  impl.server = std::make_unique<api::HttpServer>(
      http_options, [endpoint](api::HttpRequest& request, api::Responder respond) {
        endpoint->Handle(request, std::move(respond));
      });
  Status started = impl.server->Start();
  if (!started.ok()) {
    if (!options.port_given) {
      BASIN_LOG(Warn, "serve") << "AWS endpoint not started: cannot listen on " << options.address
                               << ":" << options.port << " (" << started.ToString()
                               << "); choose a port with --aws-port";
      return std::unique_ptr<AwsServer>();
    }
    return Status(started.code(), "cannot listen on " + options.address + ":" +
                                      std::to_string(options.port) +
                                      " for the AWS endpoint: " + started.message());
  }
  BASIN_LOG(Info, "serve") << "AWS endpoint (S3, Kinesis, Step Functions; SigV4) on http://"
                           << options.address << ":" << impl.server->port()
                           << " (access keys: basin keys create --user NAME)";
  if (!options.port_file.empty()) {
    Status written =
        WriteFileAtomically(options.port_file, std::to_string(impl.server->port()) + "\n");
    if (!written.ok()) {
      return Status(written.code(), "cannot write the AWS port file: " + written.message());
    }
  }
  return aws;
}

}  // namespace basin::cli
