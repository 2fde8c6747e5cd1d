#pragma once

// A data directory with a log, a catalog and a query engine, as basin serve opens them, for the
// stream loader's tests (loader_test.cpp: clickstream; loader_records_test.cpp: other streams).

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "ingest/loader.h"
#include "log/log.h"
#include "observe/metrics.h"
#include "query/query_engine.h"
#include "unit/temp_dir.h"

namespace basin::ingest {

class LoaderFixture : public ::testing::Test {
 protected:
  // `durable`: the log fsyncs its appends (as the server does).
  explicit LoaderFixture(bool durable = true) : durable_(durable) {}

  // Opens everything and creates `stream` with `shards` shards.
  void SetUpWithStream(const std::string& stream, int shards) {
    root_ = temp_.path();
    std::filesystem::create_directories(root_ / "lake");
    OpenAll();
    log::StreamOptions options;
    options.shard_count = shards;
    ASSERT_TRUE(log_->CreateStream(stream, options).ok());
  }
  void TearDown() override { CloseAll(); }

  // A process start over the same files.
  void OpenAll() {
    log::LogOptions log_options;
    log_options.dir = (root_ / "log").string();
    log_options.durable = durable_;
    auto log = log::Log::Open(log_options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    auto catalog = catalog::Catalog::Open((root_ / "basin.db").string());
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    auto engine = query::QueryEngine::Create(catalog_.get(), lake());
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }
  // A process stop: the loader first, then what it uses.
  void CloseAll() {
    if (loader_) loader_->Stop();
    loader_.reset();
    engine_.reset();
    catalog_.reset();
    log_.reset();
  }

  std::string lake() const { return (root_ / "lake").string(); }

  // Options that commit only when a test flushes, and retry quickly.
  LoaderOptions TestOptions(LoaderOptions options) const {
    options.lake_root = lake();
    options.buffer_interval_ms = 60'000;
    options.retry_backoff_ms = 50;
    return options;
  }
  void StartLoaderWith(const LoaderOptions& options) {
    auto loader =
        Loader::Start(log_.get(), catalog_.get(), options, &SystemClock::Instance(), &metrics_);
    ASSERT_TRUE(loader.ok()) << loader.status().ToString();
    loader_ = std::move(loader).value();
  }

  query::QueryResult Query(const std::string& sql) {
    auto r = engine_->Execute(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : query::QueryResult{};
  }
  // The first value of the first row; -1 when there is none.
  int64_t QueryInt(const std::string& sql) {
    auto r = Query(sql);
    return r.rows.empty() ? -1 : r.rows[0][0].i;
  }

  basin::test::TempDir temp_;
  std::filesystem::path root_;
  observe::MetricsRegistry metrics_;
  std::unique_ptr<log::Log> log_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<query::QueryEngine> engine_;
  std::unique_ptr<Loader> loader_;

 private:
  bool durable_;
};

}  // namespace basin::ingest
