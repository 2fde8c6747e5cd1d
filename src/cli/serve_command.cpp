#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "api/batch_routes.h"
#include "api/clickstream_collector.h"
#include "api/error_response.h"
#include "api/http_server.h"
#include "api/native_routes.h"
#include "api/router.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "cli/aws_server.h"
#include "cli/commands.h"
#include "cli/platform.h"
#include "demo/live_status_line.h"
#include "demo/shop_simulator.h"
#include "ingest/loader.h"
#include "security/authorizer.h"

namespace basin::cli {
namespace {

struct ServeOptions {
  PlatformOptions platform;
  std::string address = "0.0.0.0";
  uint16_t port = 8080;
  std::string port_file;
  AwsServerOptions aws;  // --aws-port: the AWS-compatible endpoint (S3, Kinesis)
  int threads = 0;
  std::string log_level = "info";
  bool no_fsync = false;
  bool demo = false;
  int shutdown_grace_s = 10;
  uint64_t max_upload_bytes = 256ULL << 20;
  // Workflow schedule overrides; the demo runs Basin's refreshes every minute unless told.
  std::vector<std::string> schedules;  // --schedule NAME=EXPRESSION|off
  bool no_schedules = false;
  // appIds the Clickstream SDK collector (POST /collect) takes events for.
  std::vector<std::string> clickstream_apps;
};

// The demo refreshes the lake every minute (EventBridge's finest rate) instead of hourly.
constexpr const char* kDemoSchedules[] = {"basin-batch-hourly", "basin-clickstream-refresh"};
constexpr char kDemoScheduleExpression[] = "rate(1 minute)";
// The appId the demo registers for the Clickstream SDK collector (a page using the AWS
// Clickstream Web SDK can send to the demo with it).
constexpr char kDemoClickstreamAppId[] = "basin-demo-shop";

// The demo's status line reads the lake's side from the loader's counters (cheap: it is asked
// every second).
class LakeStatusSource final : public demo::StatusSource {
 public:
  explicit LakeStatusSource(ingest::Loader& loader) : loader_(loader) {}
  demo::LakeStatus Sample() override {
    const auto s = loader_.stats();
    demo::LakeStatus status;
    status.rows_in_lake = static_cast<int64_t>(s.rows_committed);
    status.newest_visible_event_time_us = s.max_event_time_us;
    status.duplicates_dropped = static_cast<int64_t>(s.duplicates_dropped);
    status.quarantined = static_cast<int64_t>(s.records_quarantined);
    return status;
  }

 private:
  ingest::Loader& loader_;
};

// Blocks SIGINT and SIGTERM in this thread and every thread started after, so that only
// WaitForShutdownSignal() receives them.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

int RunServe(ServeOptions& opts) {
  LogLevel level;
  if (!ParseLogLevel(opts.log_level, &level)) {
    std::fprintf(stderr, "basin serve: unknown log level '%s'\n", opts.log_level.c_str());
    return 2;
  }
  SetLogLevel(level);
  sigset_t signals = BlockShutdownSignals();
  opts.platform.durable = !opts.no_fsync;
  if (!opts.platform.durable) {
    BASIN_LOG(Warn, "serve") << "--no-fsync: acknowledgements do NOT mean durable (baseline only)";
  }

  for (const std::string& schedule : opts.schedules) {
    const size_t eq = schedule.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "basin serve: --schedule wants NAME=EXPRESSION or NAME=off, got '%s'\n",
                   schedule.c_str());
      return 2;
    }
    opts.platform.schedule_overrides[schedule.substr(0, eq)] = schedule.substr(eq + 1);
  }
  if (opts.demo) {
    for (const char* name : kDemoSchedules) {
      opts.platform.schedule_overrides.emplace(name, kDemoScheduleExpression);
    }
  }
  opts.platform.run_schedules = !opts.no_schedules;
  auto platform = Platform::Open(opts.platform);
  if (!platform.ok()) {
    BASIN_LOG(Error, "serve") << "cannot open " << opts.platform.data_dir << ": "
                              << platform.status().ToString();
    return 1;
  }
  Platform& p = **platform;

  security::AllowAllAuthorizer authorizer;
  api::Router router(&authorizer);
  api::NativeApiContext context;
  context.log = &p.log();
  context.catalog = &p.catalog();
  context.query_engine = &p.query_engine();
  context.ingestor = &p.ingestor();
  context.flush_loaders = [&p](int64_t timeout_ms) { return p.FlushLoaders(timeout_ms); };
  context.metrics = &p.metrics();
  context.workflows = &p.workflows();
  context.blocking_threads = opts.platform.query_pool_size + 1;
  auto native_api = std::make_unique<api::NativeApi>(context);
  native_api->AddRoutes(router);
  api::BatchApiContext batch_context;
  batch_context.batch_loader = &p.batch_loader();
  batch_context.object_ingestor = &p.object_ingestor();
  batch_context.pipeline_runner = &p.pipeline_runner();
  batch_context.pipelines = &p.pipelines();
  batch_context.sweep_landing = [&p] { (void)p.SweepLanding(); };
  batch_context.upload_dir = opts.platform.data_dir + "/tmp/uploads";
  auto batch_api = std::make_unique<api::BatchApi>(batch_context);
  batch_api->AddRoutes(router);
  api::ClickstreamCollectorOptions collector_options;
  collector_options.app_ids.insert(opts.clickstream_apps.begin(), opts.clickstream_apps.end());
  if (opts.demo) collector_options.app_ids.insert(kDemoClickstreamAppId);
  collector_options.metrics = &p.metrics();
  auto collector = std::make_unique<api::ClickstreamCollector>(&p.ingestor(), collector_options);
  collector->AddRoutes(router);
  for (const std::string& app_id : collector_options.app_ids) {
    BASIN_LOG(Info, "serve") << "Clickstream SDK collector: POST /collect?appId=" << app_id;
  }

  api::HttpServerOptions http_options;
  http_options.address = opts.address;
  http_options.port = opts.port;
  http_options.threads = opts.threads;
  http_options.max_body_bytes = opts.platform.max_request_bytes;
  http_options.max_upload_body_bytes = opts.max_upload_bytes;
  http_options.is_upload = &api::BatchApi::IsUpload;
  http_options.metrics = &p.metrics();
  api::HttpServer server(http_options,
                         [&router](api::HttpRequest& request, api::Responder respond) {
                           router.Dispatch(request, std::move(respond));
                         });
  Status started = server.Start();
  if (!started.ok()) {
    BASIN_LOG(Error, "serve") << "cannot listen on " << opts.address << ":" << opts.port << ": "
                              << started.ToString();
    return 1;
  }
  BASIN_LOG(Info, "serve") << "listening on http://" << opts.address << ":" << server.port()
                           << " (data in " << opts.platform.data_dir << ")";
  if (!opts.port_file.empty()) {
    Status written = WriteFileAtomically(opts.port_file, std::to_string(server.port()) + "\n");
    if (!written.ok()) {
      BASIN_LOG(Error, "serve") << "cannot write port file: " << written.ToString();
      return 1;
    }
  }
  opts.aws.address = opts.address;
  opts.aws.threads = opts.threads;
  auto aws = AwsServer::Start(p, &authorizer, opts.aws);  // null: default port taken
  if (!aws.ok()) {
    BASIN_LOG(Error, "serve") << aws.status().ToString();
    return 1;
  }

  LakeStatusSource lake_status(p.clickstream_loader());
  std::unique_ptr<demo::ShopSimulator> shop;
  std::unique_ptr<demo::LiveStatusLine> status_line;
  if (opts.demo) {
    demo::ShopSimulatorOptions shop_options;
    shop_options.port = server.port();
    shop_options.metrics = &p.metrics();
    // The shop also exports its orders, products and customers into the landing folder and
    // uploads a picture per product (POST /v1/objects), like the shop's back office would.
    shop_options.batch.landing_dir = p.landing_root();
    shop_options.batch.interval_seconds = 60;
    shop_options.upload_product_images = true;
    shop = std::make_unique<demo::ShopSimulator>(shop_options);
    if (Status s = shop->Start(); !s.ok()) {
      BASIN_LOG(Error, "serve") << "cannot start the demo shop: " << s.ToString();
      return 1;
    }
    demo::LiveStatusLineOptions line_options;
    const std::string base_url = "http://localhost:" + std::to_string(server.port());
    line_options.dashboard_url = base_url;
    line_options.sql_command = "build/basin sql --data-dir " + opts.platform.data_dir +
                               " \"SELECT event_type, count(*) FROM raw.clickstream GROUP BY 1\"";
    line_options.extra_links = {
        {"SQL over HTTP", "curl -X POST " + base_url + "/v1/query -d '{\"sql\":\"SELECT ...\"}'"},
        {"Metrics", base_url + "/metrics"}};
    if (*aws) {
      line_options.extra_links.push_back(
          {"AWS tools", "aws --endpoint-url http://localhost:" + std::to_string((*aws)->port()) +
                            " s3 ls   (key: build/basin keys create --data-dir " +
                            opts.platform.data_dir + " --user NAME)"});
    }
    status_line = std::make_unique<demo::LiveStatusLine>(line_options, &lake_status,
                                                         [&shop] { return shop->stats(); });
    status_line->Start();
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  BASIN_LOG(Info, "serve") << "received " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
                           << ": stopping (in-flight requests finish, buffers are committed)";
  // The shop first, so that its last batches are still acknowledged; then the status line,
  // which restores the terminal.
  if (shop) shop->Stop();
  if (status_line) status_line->Stop();
  // Stop taking requests and let in-flight ones answer, then commit what the loader holds.
  server.Stop(opts.shutdown_grace_s);
  if (*aws) (*aws)->Stop(opts.shutdown_grace_s);
  native_api.reset();
  batch_api.reset();
  collector.reset();
  p.Shutdown();
  BASIN_LOG(Info, "serve") << "stopped cleanly";
  return 0;
}

}  // namespace

CommandRunner AddServeCommand(CLI::App& app) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* sub = app.add_subcommand("serve", "Run the Basin server");
  // `--config` belongs to the top-level app (CLI11 reads config files there); fallthrough lets
  // it follow the subcommand: `basin serve --config basin.toml`. Keys go in a [serve] section.
  sub->fallthrough();
  sub->add_option("--data-dir", opts->platform.data_dir, "Data directory")->capture_default_str();
  sub->add_option("--address", opts->address, "Address to listen on")->capture_default_str();
  sub->add_option("--port", opts->port, "HTTP port (0: pick a free one)")->capture_default_str();
  sub->add_option("--port-file", opts->port_file, "Write the bound port here once listening");
  sub->add_option("--aws-port", opts->aws.port,
                  "Port of the AWS-compatible endpoint: S3 and Kinesis with SigV4 (0: pick a free "
                  "one)")
      ->each([opts](const std::string&) { opts->aws.port_given = true; })
      ->capture_default_str();
  sub->add_option("--aws-port-file", opts->aws.port_file,
                  "Write the AWS endpoint's bound port here once listening");
  sub->add_option("--aws-max-body-bytes", opts->aws.max_body_bytes,
                  "Largest request body on the AWS endpoint (S3 PUTs and parts are held in "
                  "memory; bigger objects need multipart)")
      ->capture_default_str();
  sub->add_option("--threads", opts->threads, "HTTP I/O threads (0: one per core)")
      ->capture_default_str();
  sub->add_option("--log-level", opts->log_level, "debug, info, warn or error")
      ->capture_default_str();
  sub->add_flag("--no-fsync", opts->no_fsync,
                "Acknowledge before data is on disk (benchmark baselines only)");
  sub->add_option("--loader-interval-ms", opts->platform.loader_interval_ms,
                  "Longest time an event waits in the loader's buffer")
      ->check(CLI::Range(50, 5000))
      ->capture_default_str();
  sub->add_option("--compaction-interval-ms", opts->platform.compaction_interval_ms,
                  "How often small lake files are merged")
      ->check(CLI::Range(100, 3'600'000))
      ->capture_default_str();
  sub->add_option("--query-timeout-ms", opts->platform.query_timeout_ms, "Default query timeout")
      ->capture_default_str();
  sub->add_option("--query-memory-limit", opts->platform.query_memory_limit,
                  "Memory limit per query (DuckDB syntax, e.g. 1GB)")
      ->capture_default_str();
  sub->add_option("--max-body-bytes", opts->platform.max_request_bytes,
                  "Largest request body accepted")
      ->capture_default_str();
  sub->add_option("--max-upload-bytes", opts->max_upload_bytes,
                  "Largest batch file or object accepted by upload (bigger: landing folder or CLI)")
      ->capture_default_str();
  sub->add_option("--schedule", opts->schedules,
                  "Replace a workflow schedule's expression: NAME=rate(5 minutes), NAME=cron(...), "
                  "or NAME=off (repeatable; --demo: every minute)");
  sub->add_flag("--no-schedules", opts->no_schedules,
                "Run no workflow on a schedule (they still run when started)");
  sub->add_option("--shutdown-grace-s", opts->shutdown_grace_s,
                  "How long in-flight requests may take to finish on SIGTERM")
      ->capture_default_str();
  sub->add_option("--clickstream-app", opts->clickstream_apps,
                  "An appId the Clickstream SDK collector (POST /collect) accepts (repeatable)");
  sub->add_flag("--demo", opts->demo, "Also run the simulated shop that sends live traffic");
  return [opts]() -> int { return RunServe(*opts); };
}

}  // namespace basin::cli
