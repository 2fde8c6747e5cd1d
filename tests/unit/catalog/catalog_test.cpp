#include "catalog/catalog.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "unit/temp_dir.h"

namespace basin::catalog {
namespace {

using test::TempDir;

TableSchema EventsSchema() {
  TableSchema s;
  s.columns = {{"event_id", "VARCHAR"}, {"event_time", "TIMESTAMP"}, {"revenue", "DECIMAL(18,2)"}};
  s.partition_columns = {{"dt", "DATE"}, {"hour", "INTEGER"}};
  return s;
}

TableSchema PlainSchema() {
  TableSchema s;
  s.columns = {{"id", "BIGINT"}, {"name", "VARCHAR"}};
  return s;
}

DataFile EventFile(const std::string& name, int64_t rows,
                   const std::string& partition = "dt=2026-11-27/hour=04") {
  DataFile f;
  f.path = "raw/events/" + partition + "/" + name;
  f.partition = partition;
  f.row_count = rows;
  f.size_bytes = rows * 10;
  f.min_time_us = 1'000;
  f.max_time_us = 2'000;
  return f;
}

std::vector<std::string> Paths(const std::vector<DataFile>& files) {
  std::vector<std::string> out;
  for (const DataFile& f : files) out.push_back(f.path);
  std::sort(out.begin(), out.end());
  return out;
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    catalog_.reset();
    auto opened = Catalog::Open(DbPath(), &clock_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    catalog_ = std::move(opened).value();
  }
  std::string DbPath() const { return dir_.path() + "/basin.db"; }
  TableInfo CreateEvents() {
    auto t = catalog_->CreateTable({"raw", "events"}, EventsSchema(), "raw/events");
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : TableInfo{};
  }

  TempDir dir_;
  FakeClock clock_{1'800'000'000'000'000};
  std::unique_ptr<Catalog> catalog_;
};

TEST(TableRefTest, ParsesZoneAndName) {
  auto ref = TableRef::Parse("raw.clickstream");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->zone, "raw");
  EXPECT_EQ(ref->name, "clickstream");
  EXPECT_EQ(ref->Qualified(), "raw.clickstream");
  for (std::string_view zone : {"processed", "curated", "quarantine"}) {
    EXPECT_TRUE(TableRef::Parse(std::string(zone) + ".t_1").ok()) << zone;
  }
  EXPECT_TRUE(TableRef::Parse("raw." + std::string(128, 'a')).ok());
}

TEST(TableRefTest, RejectsBadNames) {
  for (const std::string& bad :
       {std::string("clickstream"), std::string("bronze.events"), std::string("raw."),
        std::string(".events"), std::string("raw.Events"), std::string("raw.a.b"),
        std::string("raw.a-b"), std::string("raw.a b"), std::string("RAW.events"),
        std::string("raw.") + std::string(129, 'a'), std::string("")}) {
    auto ref = TableRef::Parse(bad);
    ASSERT_FALSE(ref.ok()) << bad;
    EXPECT_EQ(ref.status().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST_F(CatalogTest, CreatesGetsAndListsTables) {
  TableInfo events = CreateEvents();
  EXPECT_GT(events.id, 0);
  EXPECT_EQ(events.schema.version, 1);
  EXPECT_EQ(events.current_snapshot_id, 0);
  EXPECT_EQ(events.created_time_us, clock_.NowMicros());

  clock_.Advance(5);
  auto sessions = catalog_->CreateTable({"curated", "sessions"}, PlainSchema(), "curated/sessions");
  ASSERT_TRUE(sessions.ok()) << sessions.status().ToString();

  auto got = catalog_->GetTable({"raw", "events"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->id, events.id);
  EXPECT_EQ(got->location, "raw/events");
  EXPECT_EQ(got->schema.columns, EventsSchema().columns);
  EXPECT_EQ(got->schema.partition_columns, EventsSchema().partition_columns);
  EXPECT_EQ(got->schema.version, 1);

  std::vector<TableInfo> all = catalog_->ListTables();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].ref.Qualified(), "curated.sessions");
  EXPECT_EQ(all[0].created_time_us, clock_.NowMicros());
  EXPECT_EQ(all[1].ref.Qualified(), "raw.events");
}

TEST_F(CatalogTest, CreateTwiceIsAlreadyExistsAndEnsureReturnsTheExisting) {
  TableInfo events = CreateEvents();
  auto again = catalog_->CreateTable({"raw", "events"}, PlainSchema(), "raw/events");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kAlreadyExists);

  auto ensured = catalog_->EnsureTable({"raw", "events"}, PlainSchema(), "raw/other");
  ASSERT_TRUE(ensured.ok());
  EXPECT_EQ(ensured->id, events.id);
  EXPECT_EQ(ensured->schema.columns, EventsSchema().columns);  // not replaced
  EXPECT_EQ(ensured->location, "raw/events");

  auto fresh = catalog_->EnsureTable({"processed", "orders"}, PlainSchema(), "processed/orders");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(catalog_->ListTables().size(), 2u);
}

TEST_F(CatalogTest, MissingTablesAreTableNotFound) {
  EXPECT_EQ(catalog_->GetTable({"raw", "nope"}).status().code(), ErrorCode::kTableNotFound);
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "nope"}).status().code(), ErrorCode::kTableNotFound);
  EXPECT_EQ(catalog_->CommitAppend(999, {}, std::nullopt).status().code(),
            ErrorCode::kTableNotFound);
  EXPECT_EQ(catalog_->CommitReplace(999, {}, {}).status().code(), ErrorCode::kTableNotFound);
  EXPECT_EQ(catalog_->EvolveSchema(999, PlainSchema()).status().code(), ErrorCode::kTableNotFound);
  EXPECT_EQ(catalog_->KnownPaths(999).status().code(), ErrorCode::kTableNotFound);
}

TEST_F(CatalogTest, RejectsBadSchemasAndLocations) {
  auto code = [&](const TableSchema& schema, const std::string& location = "raw/t") {
    return catalog_->CreateTable({"raw", "t"}, schema, location).status().code();
  };
  TableSchema dup = PlainSchema();
  dup.columns.push_back({"NAME", "VARCHAR"});
  EXPECT_EQ(code(dup), ErrorCode::kInvalidArgument);
  TableSchema dup_partition = PlainSchema();
  dup_partition.partition_columns = {{"id", "INTEGER"}};
  EXPECT_EQ(code(dup_partition), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(TableSchema{}), ErrorCode::kInvalidArgument);
  for (std::string bad_type : {"", "INTEGER); DROP TABLE x; --", "VARCHAR AS x)", "DECIMAL(18,2",
                               "ENUM('a')", "INT\"EGER", "LIST(INTEGER))"}) {
    TableSchema s = PlainSchema();
    s.columns[1].type = bad_type;
    EXPECT_EQ(code(s), ErrorCode::kInvalidArgument) << bad_type;
  }
  EXPECT_EQ(code(PlainSchema(), "../escape"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(PlainSchema(), "/abs/path"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(PlainSchema(), "raw//t"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(PlainSchema(), "raw/t*"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(catalog_->CreateTable({"bronze", "t"}, PlainSchema(), "x").status().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(CatalogTest, AcceptsNestedTypeNames) {
  int n = 0;
  for (std::string type : {"STRUCT(a INTEGER, b VARCHAR[])", "MAP(VARCHAR, INTEGER)", "INTEGER[3]",
                           "TIMESTAMP WITH TIME ZONE", "DECIMAL(18, 2)", "JSON", "DOUBLE[][]"}) {
    TableSchema s;
    s.columns = {{"c", type}};
    const std::string name = "t" + std::to_string(n++);
    auto t = catalog_->CreateTable({"raw", name}, s, "raw/" + name);
    ASSERT_TRUE(t.ok()) << type << ": " << t.status().ToString();
    EXPECT_EQ(catalog_->GetTable({"raw", name})->schema.columns[0].type, type);
  }
}

TEST_F(CatalogTest, SchemaEvolutionAddsVersions) {
  TableInfo events = CreateEvents();
  TableSchema v2 = EventsSchema();
  v2.columns.push_back({"currency", "VARCHAR"});
  v2.columns[2].type = "DECIMAL(20,2)";  // widened
  auto evolved = catalog_->EvolveSchema(events.id, v2);
  ASSERT_TRUE(evolved.ok()) << evolved.status().ToString();
  EXPECT_EQ(evolved->schema.version, 2);
  EXPECT_EQ(evolved->schema.columns, v2.columns);
  EXPECT_EQ(catalog_->GetTable({"raw", "events"})->schema.version, 2);
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->schema.version, 2);

  // The same schema again adds no version.
  auto same = catalog_->EvolveSchema(events.id, v2);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->schema.version, 2);

  TableSchema v3 = v2;
  v3.columns[1].type = "TIMESTAMP WITH TIME ZONE";  // TIMESTAMP -> TIMESTAMPTZ is not a widening
  EXPECT_EQ(catalog_->EvolveSchema(events.id, v3).status().code(), ErrorCode::kInvalidArgument);
  TableSchema dropped = v2;
  dropped.columns.pop_back();
  EXPECT_EQ(catalog_->EvolveSchema(events.id, dropped).status().code(),
            ErrorCode::kInvalidArgument);
  TableSchema narrowed = v2;
  narrowed.columns[2].type = "DECIMAL(10,2)";
  EXPECT_EQ(catalog_->EvolveSchema(events.id, narrowed).status().code(),
            ErrorCode::kInvalidArgument);
  TableSchema repartitioned = v2;
  repartitioned.partition_columns.pop_back();
  EXPECT_EQ(catalog_->EvolveSchema(events.id, repartitioned).status().code(),
            ErrorCode::kInvalidArgument);

  TableSchema v3ok = v2;
  v3ok.columns[0].type = "VARCHAR";
  v3ok.columns.push_back({"items", "JSON"});
  auto evolved3 = catalog_->EvolveSchema(events.id, v3ok);
  ASSERT_TRUE(evolved3.ok());
  EXPECT_EQ(evolved3->schema.version, 3);
}

TEST_F(CatalogTest, IntegerWideningRules) {
  TableSchema s;
  s.columns = {{"a", "INTEGER"}, {"b", "FLOAT"}, {"c", "UINTEGER"}, {"d", "DATE"}, {"e", "INT"}};
  auto t = catalog_->CreateTable({"raw", "w"}, s, "raw/w");
  ASSERT_TRUE(t.ok());
  TableSchema wide;
  wide.columns = {{"a", "BIGINT"},
                  {"b", "DOUBLE"},
                  {"c", "BIGINT"},
                  {"d", "TIMESTAMP"},
                  {"e", "DECIMAL(12,2)"}};
  auto evolved = catalog_->EvolveSchema(t->id, wide);
  EXPECT_TRUE(evolved.ok()) << evolved.status().ToString();
  TableSchema back = wide;
  back.columns[0].type = "SMALLINT";
  EXPECT_EQ(catalog_->EvolveSchema(t->id, back).status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(CatalogTest, CommitAppendAddsFilesAndAdvancesTheOffset) {
  TableInfo events = CreateEvents();
  auto empty = catalog_->CurrentSnapshot({"raw", "events"});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->id, 0);
  EXPECT_TRUE(empty->files.empty());
  EXPECT_EQ(empty->schema.columns, EventsSchema().columns);
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "loader"), 0u);

  clock_.Advance(10);
  auto s1 =
      catalog_->CommitAppend(events.id, {EventFile("a.parquet", 5), EventFile("b.parquet", 7)},
                             OffsetAdvance{"clicks", "loader", 0, 12});
  ASSERT_TRUE(s1.ok()) << s1.status().ToString();
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "loader"), 12u);
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "other"), 0u);

  auto snap = catalog_->CurrentSnapshot({"raw", "events"});
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->id, *s1);
  EXPECT_EQ(snap->table_id, events.id);
  EXPECT_EQ(snap->operation, "append");
  EXPECT_EQ(snap->created_time_us, clock_.NowMicros());
  ASSERT_EQ(snap->files.size(), 2u);
  for (const DataFile& f : snap->files) {
    EXPECT_GT(f.id, 0);
    EXPECT_EQ(f.added_snapshot_id, *s1);
    EXPECT_EQ(f.partition, "dt=2026-11-27/hour=04");
    EXPECT_EQ(f.min_time_us, 1'000);
    EXPECT_EQ(f.max_time_us, 2'000);
  }
  EXPECT_EQ(snap->files[0].row_count + snap->files[1].row_count, 12);
  EXPECT_EQ(catalog_->GetTable({"raw", "events"})->current_snapshot_id, *s1);

  auto s2 = catalog_->CommitAppend(events.id, {EventFile("c.parquet", 3, "dt=2026-11-28/hour=00")},
                                   OffsetAdvance{"clicks", "loader", 12, 15});
  ASSERT_TRUE(s2.ok()) << s2.status().ToString();
  EXPECT_GT(*s2, *s1);
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 3u);
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "loader"), 15u);

  // Without an offset: a batch file.
  auto s3 = catalog_->CommitAppend(events.id, {EventFile("d.parquet", 1)}, std::nullopt);
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 4u);
}

TEST_F(CatalogTest, StaleOffsetIsConflictAndChangesNothing) {
  TableInfo events = CreateEvents();
  ASSERT_TRUE(catalog_
                  ->CommitAppend(events.id, {EventFile("a.parquet", 5)},
                                 OffsetAdvance{"clicks", "loader", 0, 5})
                  .ok());
  // A loader that crashed after its commit and replays the same batch.
  auto replay = catalog_->CommitAppend(events.id, {EventFile("a2.parquet", 5)},
                                       OffsetAdvance{"clicks", "loader", 0, 5});
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().code(), ErrorCode::kConflict);
  auto snap = catalog_->CurrentSnapshot({"raw", "events"});
  EXPECT_EQ(Paths(snap->files),
            std::vector<std::string>{"raw/events/dt=2026-11-27/hour=04/a.parquet"});
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "loader"), 5u);

  auto ahead = catalog_->CommitAppend(events.id, {}, OffsetAdvance{"clicks", "loader", 7, 9});
  EXPECT_EQ(ahead.status().code(), ErrorCode::kConflict);
  auto backwards = catalog_->CommitAppend(events.id, {}, OffsetAdvance{"clicks", "loader", 5, 4});
  EXPECT_EQ(backwards.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "loader"), 5u);
}

TEST_F(CatalogTest, FailedFileInsertRollsBackTheOffset) {
  TableInfo events = CreateEvents();
  ASSERT_TRUE(catalog_->CommitAppend(events.id, {EventFile("a.parquet", 5)}, std::nullopt).ok());
  const int64_t before = catalog_->GetTable({"raw", "events"})->current_snapshot_id;
  // The offset check passes, then the second file collides with a known path: nothing may stay.
  auto dup =
      catalog_->CommitAppend(events.id, {EventFile("b.parquet", 1), EventFile("a.parquet", 5)},
                             OffsetAdvance{"clicks", "loader", 0, 6});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), ErrorCode::kConflict);
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "loader"), 0u);
  EXPECT_EQ(catalog_->GetTable({"raw", "events"})->current_snapshot_id, before);
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 1u);
  EXPECT_EQ(catalog_->KnownPaths(events.id)->size(), 1u);
}

TEST_F(CatalogTest, FilesMustMatchTheTableLayout) {
  TableInfo events = CreateEvents();
  auto code = [&](DataFile f) {
    return catalog_->CommitAppend(events.id, {f}, std::nullopt).status().code();
  };
  DataFile outside = EventFile("a.parquet", 1);
  outside.path = "raw/other/dt=2026-11-27/hour=04/a.parquet";
  EXPECT_EQ(code(outside), ErrorCode::kInvalidArgument);
  DataFile wrong_order = EventFile("a.parquet", 1, "hour=04/dt=2026-11-27");
  EXPECT_EQ(code(wrong_order), ErrorCode::kInvalidArgument);
  DataFile missing_key = EventFile("a.parquet", 1, "dt=2026-11-27");
  EXPECT_EQ(code(missing_key), ErrorCode::kInvalidArgument);
  DataFile empty_value = EventFile("a.parquet", 1, "dt=2026-11-27/hour=");
  EXPECT_EQ(code(empty_value), ErrorCode::kInvalidArgument);
  DataFile dotdot = EventFile("../../../etc/passwd", 1);
  EXPECT_EQ(code(dotdot), ErrorCode::kInvalidArgument);
  DataFile glob = EventFile("*.parquet", 1);
  EXPECT_EQ(code(glob), ErrorCode::kInvalidArgument);
  DataFile negative = EventFile("n.parquet", -1);
  EXPECT_EQ(code(negative), ErrorCode::kInvalidArgument);
  EXPECT_EQ(catalog_
                ->CommitAppend(events.id, {EventFile("x.parquet", 1), EventFile("x.parquet", 1)},
                               std::nullopt)
                .status()
                .code(),
            ErrorCode::kInvalidArgument);

  auto plain = catalog_->CreateTable({"raw", "plain"}, PlainSchema(), "raw/plain");
  ASSERT_TRUE(plain.ok());
  DataFile partitioned;
  partitioned.path = "raw/plain/dt=2026-11-27/a.parquet";
  partitioned.partition = "dt=2026-11-27";
  EXPECT_EQ(catalog_->CommitAppend(plain->id, {partitioned}, std::nullopt).status().code(),
            ErrorCode::kInvalidArgument);
  DataFile flat;
  flat.path = "raw/plain/a.parquet";
  EXPECT_TRUE(catalog_->CommitAppend(plain->id, {flat}, std::nullopt).ok());
  EXPECT_TRUE(catalog_->CurrentSnapshot({"raw", "events"})->files.empty());
}

// A loader's table and its quarantine commit together with the offset that covers both.
TEST_F(CatalogTest, CommitAppendsSpansTablesInOneTransaction) {
  TableInfo events = CreateEvents();
  TableSchema q;
  q.columns = {{"record", "VARCHAR"}, {"reason", "VARCHAR"}};
  auto quarantine = catalog_->CreateTable({"quarantine", "events"}, q, "quarantine/events");
  ASSERT_TRUE(quarantine.ok());
  DataFile bad;
  bad.path = "quarantine/events/q-1.parquet";
  bad.row_count = 2;

  auto first =
      catalog_->CommitAppends({{events.id, {EventFile("a.parquet", 8)}}, {quarantine->id, {bad}}},
                              OffsetAdvance{"clicks", "loader", 0, 10});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(*first, catalog_->GetTable({"raw", "events"})->current_snapshot_id);
  EXPECT_GT(catalog_->GetTable({"quarantine", "events"})->current_snapshot_id, *first);
  EXPECT_EQ(catalog_->CurrentSnapshot({"quarantine", "events"})->files.size(), 1u);
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "loader"), 10u);

  // A batch with no rejects: the quarantine gets no new snapshot.
  const int64_t quarantine_snapshot =
      catalog_->GetTable({"quarantine", "events"})->current_snapshot_id;
  auto second =
      catalog_->CommitAppends({{events.id, {EventFile("b.parquet", 5)}}, {quarantine->id, {}}},
                              OffsetAdvance{"clicks", "loader", 10, 15});
  ASSERT_TRUE(second.ok());
  EXPECT_GT(*second, *first);
  EXPECT_EQ(catalog_->GetTable({"quarantine", "events"})->current_snapshot_id, quarantine_snapshot);

  // A batch of rejects only: the first table keeps its snapshot, which is what is returned.
  DataFile bad2 = bad;
  bad2.path = "quarantine/events/q-2.parquet";
  auto third = catalog_->CommitAppends({{events.id, {}}, {quarantine->id, {bad2}}},
                                       OffsetAdvance{"clicks", "loader", 15, 17});
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(*third, *second);

  // Anything wrong in any table undoes the whole commit, offset included.
  DataFile clash = bad;  // already committed
  auto failed =
      catalog_->CommitAppends({{events.id, {EventFile("c.parquet", 1)}}, {quarantine->id, {clash}}},
                              OffsetAdvance{"clicks", "loader", 17, 18});
  EXPECT_EQ(failed.status().code(), ErrorCode::kConflict);
  auto stale = catalog_->CommitAppends({{events.id, {EventFile("c.parquet", 1)}}},
                                       OffsetAdvance{"clicks", "loader", 0, 18});
  EXPECT_EQ(stale.status().code(), ErrorCode::kConflict);
  auto missing = catalog_->CommitAppends({{events.id, {EventFile("c.parquet", 1)}}, {987654, {}}},
                                         std::nullopt);
  EXPECT_EQ(missing.status().code(), ErrorCode::kTableNotFound);
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "loader"), 17u);
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 2u);
  EXPECT_EQ(catalog_->CurrentSnapshot({"quarantine", "events"})->files.size(), 2u);
}

TEST_F(CatalogTest, CommitReplaceSwapsFilesAtomically) {
  TableInfo events = CreateEvents();
  ASSERT_TRUE(catalog_
                  ->CommitAppend(events.id,
                                 {EventFile("a.parquet", 1), EventFile("b.parquet", 2),
                                  EventFile("c.parquet", 3)},
                                 std::nullopt)
                  .ok());
  auto before = catalog_->CurrentSnapshot({"raw", "events"});
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->files.size(), 3u);
  const int64_t a = before->files[0].id, b = before->files[1].id;

  clock_.Advance(100);
  auto replaced = catalog_->CommitReplace(events.id, {a, b}, {EventFile("ab.parquet", 3)});
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  auto after = catalog_->CurrentSnapshot({"raw", "events"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->id, *replaced);
  EXPECT_EQ(after->operation, "compact");
  EXPECT_EQ(Paths(after->files),
            (std::vector<std::string>{"raw/events/dt=2026-11-27/hour=04/ab.parquet",
                                      "raw/events/dt=2026-11-27/hour=04/c.parquet"}));
  int64_t rows = 0;
  for (const DataFile& f : after->files) rows += f.row_count;
  EXPECT_EQ(rows, 6);

  // Snapshot isolation: the reader that took `before` still has every file it needs, and the
  // removed files stay known (not deletable) until their removal is old enough.
  EXPECT_EQ(before->files.size(), 3u);
  auto known = catalog_->KnownPaths(events.id);
  ASSERT_TRUE(known.ok());
  for (const DataFile& f : before->files) {
    EXPECT_NE(std::find(known->begin(), known->end(), f.path), known->end()) << f.path;
  }

  // A second compaction that planned with the same files lost the race.
  auto stale = catalog_->CommitReplace(events.id, {a}, {EventFile("a2.parquet", 1)});
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), ErrorCode::kConflict);
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->id, *replaced);
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 2u);

  auto unknown = catalog_->CommitReplace(events.id, {123456}, {});
  EXPECT_EQ(unknown.status().code(), ErrorCode::kConflict);
  // A file of another table is not live in this one.
  auto other = catalog_->CreateTable({"raw", "plain"}, PlainSchema(), "raw/plain");
  ASSERT_TRUE(other.ok());
  DataFile flat;
  flat.path = "raw/plain/p.parquet";
  ASSERT_TRUE(catalog_->CommitAppend(other->id, {flat}, std::nullopt).ok());
  const int64_t foreign = catalog_->CurrentSnapshot({"raw", "plain"})->files[0].id;
  EXPECT_EQ(catalog_->CommitReplace(events.id, {foreign}, {}).status().code(),
            ErrorCode::kConflict);
}

TEST_F(CatalogTest, CommitSpansAppendsOverwritesOffsetsAndKeysAtomically) {
  TableInfo events = CreateEvents();
  auto plain = catalog_->CreateTable({"processed", "plain"}, PlainSchema(), "processed/plain");
  ASSERT_TRUE(plain.ok());
  DataFile p1;
  p1.path = "processed/plain/p1.parquet";
  p1.row_count = 4;
  ASSERT_TRUE(catalog_->CommitAppend(plain->id, {p1}, std::nullopt).ok());
  const int64_t p1_id = catalog_->CurrentSnapshot({"processed", "plain"})->files[0].id;

  DataFile p2;
  p2.path = "processed/plain/p2.parquet";
  p2.row_count = 5;
  CommitRequest request;
  request.changes.push_back({events.id, ChangeKind::kAppend, {}, {EventFile("a.parquet", 1)}});
  request.changes.push_back({plain->id, ChangeKind::kOverwrite, {p1_id}, {p2}});
  request.offsets.push_back({"table:raw.events", "pipeline:x", 0, 7});
  request.keys = {"batch:raw.events:abc"};
  auto committed = catalog_->Commit(request);
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  ASSERT_EQ(committed->snapshot_ids.size(), 2u);
  EXPECT_GT(committed->snapshot_ids[0], 0);
  EXPECT_GT(committed->snapshot_ids[1], committed->snapshot_ids[0]);
  auto overwritten = catalog_->CurrentSnapshot({"processed", "plain"});
  EXPECT_EQ(overwritten->operation, "overwrite");
  EXPECT_EQ(Paths(overwritten->files), std::vector<std::string>{"processed/plain/p2.parquet"});
  EXPECT_EQ(*catalog_->GetStreamOffset("table:raw.events", "pipeline:x"), 7u);
  EXPECT_TRUE(*catalog_->HasCommitKey("batch:raw.events:abc"));
  EXPECT_FALSE(*catalog_->HasCommitKey("batch:raw.events:abd"));

  // The same key again is AlreadyExists, and nothing else of that commit happens.
  CommitRequest again;
  again.changes.push_back({events.id, ChangeKind::kAppend, {}, {EventFile("b.parquet", 1)}});
  again.keys = {"batch:raw.events:abc"};
  EXPECT_EQ(catalog_->Commit(again).status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 1u);

  // A stale offset undoes the keys and files of the same commit.
  CommitRequest stale;
  stale.changes.push_back({events.id, ChangeKind::kAppend, {}, {EventFile("c.parquet", 1)}});
  stale.offsets.push_back({"table:raw.events", "pipeline:x", 3, 9});
  stale.keys = {"batch:raw.events:new"};
  EXPECT_EQ(catalog_->Commit(stale).status().code(), ErrorCode::kConflict);
  EXPECT_FALSE(*catalog_->HasCommitKey("batch:raw.events:new"));
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 1u);

  // An append cannot remove files.
  CommitRequest bad;
  bad.changes.push_back({events.id, ChangeKind::kAppend, {p1_id}, {}});
  EXPECT_EQ(catalog_->Commit(bad).status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(CatalogTest, NewFilesSinceSkipsCompactedFilesAndCompactionWaitsForConsumers) {
  TableInfo events = CreateEvents();
  const std::string stream = TableConsumerStream(events.ref);
  EXPECT_EQ(stream, "table:raw.events");
  ASSERT_TRUE(catalog_->RegisterConsumer(stream, "pipeline:p").ok());
  ASSERT_TRUE(catalog_->RegisterConsumer(stream, "pipeline:p").ok());  // idempotent
  auto s1 = catalog_->CommitAppend(events.id, {EventFile("a.parquet", 1)}, std::nullopt);
  auto s2 = catalog_->CommitAppend(events.id, {EventFile("b.parquet", 2)}, std::nullopt);
  ASSERT_TRUE(s1.ok() && s2.ok());

  // Everything is new to a reader that has read nothing.
  auto all = catalog_->NewFilesSince(events.id, 0, *s2);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  auto after_first = catalog_->NewFilesSince(events.id, *s1, *s2);
  ASSERT_TRUE(after_first.ok());
  ASSERT_EQ(after_first->size(), 1u);
  EXPECT_EQ((*after_first)[0].path, "raw/events/dt=2026-11-27/hour=04/b.parquet");

  // The consumer is at 0: compacting a file it has not read is refused.
  auto snapshot = catalog_->CurrentSnapshot({"raw", "events"});
  const int64_t a = snapshot->files[0].id, b = snapshot->files[1].id;
  EXPECT_EQ(
      catalog_->CommitReplace(events.id, {a, b}, {EventFile("ab.parquet", 3)}).status().code(),
      ErrorCode::kConflict);
  auto consumers = catalog_->ListConsumers(stream);
  ASSERT_TRUE(consumers.ok());
  ASSERT_EQ(consumers->size(), 1u);
  EXPECT_EQ((*consumers)[0].consumer, "pipeline:p");

  // Once it has read up to s2, the compaction goes through, and its file is not new data.
  CommitRequest moved;
  moved.offsets.push_back({stream, "pipeline:p", 0, static_cast<uint64_t>(*s2)});
  ASSERT_TRUE(catalog_->Commit(moved).ok());
  auto compacted = catalog_->CommitReplace(events.id, {a, b}, {EventFile("ab.parquet", 3)});
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  auto s4 = catalog_->CommitAppend(events.id, {EventFile("d.parquet", 4)}, std::nullopt);
  ASSERT_TRUE(s4.ok());
  auto fresh = catalog_->NewFilesSince(events.id, *s2, *s4);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(Paths(*fresh), std::vector<std::string>{"raw/events/dt=2026-11-27/hour=04/d.parquet"});
  // A new reader still gets every live file, the compacted one included.
  EXPECT_EQ(catalog_->NewFilesSince(events.id, 0, *s4)->size(), 2u);

  // A removed pipeline stops holding compaction back.
  ASSERT_TRUE(catalog_->RegisterConsumer(stream, "pipeline:gone").ok());
  EXPECT_EQ(catalog_->ListConsumers(stream)->size(), 2u);
  ASSERT_TRUE(catalog_->RemoveConsumer(stream, "pipeline:gone").ok());
  ASSERT_TRUE(catalog_->RemoveConsumer(stream, "pipeline:gone").ok());  // already gone
  EXPECT_EQ(catalog_->ListConsumers(stream)->size(), 1u);
}

TEST(QuarantineTableTest, RawTablesKeepTheirNameOthersAreQualified) {
  EXPECT_EQ(QuarantineTableFor({"raw", "orders"}).Qualified(), "quarantine.orders");
  EXPECT_EQ(QuarantineTableFor({"raw", "clickstream"}).Qualified(), "quarantine.clickstream");
  EXPECT_EQ(QuarantineTableFor({"processed", "orders"}).Qualified(), "quarantine.processed_orders");
  EXPECT_EQ(QuarantineTableFor({"curated", "sessions"}).Qualified(), "quarantine.curated_sessions");
}

TEST_F(CatalogTest, ExpiredFilesAreForgottenOnlyAfterRemoval) {
  TableInfo events = CreateEvents();
  ASSERT_TRUE(catalog_
                  ->CommitAppend(events.id, {EventFile("a.parquet", 1), EventFile("b.parquet", 2)},
                                 std::nullopt)
                  .ok());
  auto snap = catalog_->CurrentSnapshot({"raw", "events"});
  const int64_t a = snap->files[0].id, b = snap->files[1].id;
  EXPECT_TRUE(catalog_->ExpiredFiles(INT64_MAX)->empty());

  const int64_t removed_at = clock_.NowMicros();
  ASSERT_TRUE(catalog_->CommitReplace(events.id, {a}, {EventFile("a2.parquet", 1)}).ok());
  EXPECT_TRUE(catalog_->ExpiredFiles(removed_at)->empty());  // not strictly before
  auto expired = catalog_->ExpiredFiles(removed_at + 1);
  ASSERT_TRUE(expired.ok());
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ((*expired)[0].id, a);
  EXPECT_EQ((*expired)[0].path, "raw/events/dt=2026-11-27/hour=04/a.parquet");

  // A live file is never forgotten.
  Status live = catalog_->ForgetFiles({b});
  EXPECT_EQ(live.code(), ErrorCode::kConflict);
  ASSERT_TRUE(catalog_->ForgetFiles({a}).ok());
  EXPECT_TRUE(catalog_->ExpiredFiles(INT64_MAX)->empty());
  EXPECT_TRUE(catalog_->ForgetFiles({a}).ok());  // running the cleanup again is harmless
  EXPECT_EQ(*catalog_->KnownPaths(events.id),
            (std::vector<std::string>{"raw/events/dt=2026-11-27/hour=04/a2.parquet",
                                      "raw/events/dt=2026-11-27/hour=04/b.parquet"}));
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 2u);
}

TEST_F(CatalogTest, StateSurvivesReopen) {
  TableInfo events = CreateEvents();
  TableSchema odd;
  odd.columns = {{"we\"ird \\ name \xC3\xA9 \u00e9 \U0001F600", "VARCHAR"}};
  ASSERT_TRUE(catalog_->CreateTable({"quarantine", "odd"}, odd, "quarantine/odd").ok());
  auto s1 = catalog_->CommitAppend(events.id, {EventFile("a.parquet", 4)},
                                   OffsetAdvance{"clicks", "loader", 0, 4});
  ASSERT_TRUE(s1.ok());
  Reopen();
  auto snap = catalog_->CurrentSnapshot({"raw", "events"});
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->id, *s1);
  ASSERT_EQ(snap->files.size(), 1u);
  EXPECT_EQ(snap->files[0].row_count, 4);
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "loader"), 4u);
  EXPECT_EQ(catalog_->GetTable({"quarantine", "odd"})->schema.columns, odd.columns);
  EXPECT_EQ(catalog_->ListTables().size(), 2u);
}

TEST_F(CatalogTest, DatabaseIsWalWithAMigrationVersion) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  };
  EXPECT_EQ(scalar("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(scalar("SELECT max(version) FROM schema_migrations"), "4");
  EXPECT_EQ(scalar("SELECT group_concat(name, ',') FROM (SELECT name FROM zones ORDER BY name)"),
            "curated,ops,processed,quarantine,raw");
  // A database from a newer Basin is refused rather than misread.
  ASSERT_EQ(
      sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (99, 0)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  catalog_.reset();
  auto newer = Catalog::Open(DbPath(), &clock_);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), ErrorCode::kUnavailable);
}

TEST_F(CatalogTest, CorruptDatabaseIsATypedError) {
  catalog_.reset();
  const std::string path = dir_.path() + "/garbage.db";
  {
    FILE* f = fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::string junk(8192, 'x');
    fwrite(junk.data(), 1, junk.size(), f);
    fclose(f);
  }
  auto opened = Catalog::Open(path, &clock_);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kCorruption) << opened.status().ToString();
}

// `basin serve` writes while `basin sql` reads: two connections to one file.
TEST_F(CatalogTest, TwoCatalogsOnOneFileSeeEachOthersCommits) {
  TableInfo events = CreateEvents();
  auto second = Catalog::Open(DbPath(), &clock_);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  Catalog& other = **second;

  EXPECT_EQ(other.GetTable({"raw", "events"})->id, events.id);
  ASSERT_TRUE(other
                  .CommitAppend(events.id, {EventFile("a.parquet", 1)},
                                OffsetAdvance{"clicks", "loader", 0, 1})
                  .ok());
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 1u);
  // The first process still believes the offset is 0: its commit must fail.
  auto stale = catalog_->CommitAppend(events.id, {EventFile("b.parquet", 1)},
                                      OffsetAdvance{"clicks", "loader", 0, 1});
  EXPECT_EQ(stale.status().code(), ErrorCode::kConflict);
  EXPECT_EQ(*other.GetStreamOffset("clicks", "loader"), 1u);
}

TEST_F(CatalogTest, ConcurrentWritersFromTwoConnections) {
  TableInfo events = CreateEvents();
  auto second = Catalog::Open(DbPath(), &clock_);
  ASSERT_TRUE(second.ok());
  constexpr int kCommits = 25;
  std::atomic<int> failures{0};
  auto writer = [&](Catalog* c, const std::string& consumer) {
    for (int i = 0; i < kCommits; ++i) {
      auto r = c->CommitAppend(events.id,
                               {EventFile(consumer + "-" + std::to_string(i) + ".parquet", 1)},
                               OffsetAdvance{"clicks", consumer, static_cast<uint64_t>(i),
                                             static_cast<uint64_t>(i + 1)});
      if (!r.ok()) ++failures;
    }
  };
  std::thread t1(writer, catalog_.get(), "one");
  std::thread t2(writer, second->get(), "two");
  // A reader keeps reading consistent snapshots meanwhile.
  for (int i = 0; i < 20; ++i) {
    auto snap = (*second)->CurrentSnapshot({"raw", "events"});
    ASSERT_TRUE(snap.ok()) << snap.status().ToString();
    for (const DataFile& f : snap->files) EXPECT_LE(f.added_snapshot_id, snap->id);
  }
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(catalog_->CurrentSnapshot({"raw", "events"})->files.size(), 2u * kCommits);
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "one"), static_cast<uint64_t>(kCommits));
  EXPECT_EQ(*catalog_->GetStreamOffset("clicks", "two"), static_cast<uint64_t>(kCommits));
}

}  // namespace
}  // namespace basin::catalog
