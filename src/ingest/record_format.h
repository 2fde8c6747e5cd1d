#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"

namespace basin::ingest {

// How a stream's loader turns the payload of each record into a row of its lake table.
enum class RecordFormat {
  // One clickstream event per record, typed into raw.clickstream's columns; repeats of an
  // event_id are dropped. The `clickstream` stream's schema.
  kClickstream,
  // Any bytes: one row per record in raw.<table> (StreamRecordColumns) with the record's log
  // metadata and its payload, as JSON when it is a JSON document, else base64. No dedup: every
  // record is distinct (a Kinesis producer's retry is a new record, as on AWS). Every other
  // stream.
  kRecords,
};

// The table a kRecords stream loads into: raw.<name>, lower-cased, every character other than
// [a-z0-9_] made '_' ("Orders-Feed.v2" -> raw.orders_feed_v2). Stream names are 1-128 of
// [a-zA-Z0-9_.-], so the result is always a valid table name; different streams can map to the
// same table, which the platform refuses (docs/data-model.md, "Stream tables").
catalog::TableRef StreamRecordsTable(std::string_view stream);

// ingest_time, partition_key, shard, sequence_number, source, client_ip, user_agent, data,
// data_base64 (docs/data-model.md).
const std::vector<catalog::Column>& StreamRecordColumns();
// dt DATE, hour INTEGER, of ingest_time.
const std::vector<catalog::Column>& StreamRecordPartitionColumns();

// The Kinesis sequence number of the record at log offset `offset` in shard `shard`: "49" + the
// offset as 20 zero-padded digits + the shard as 4 (26 digits, so string order is numeric
// order). The one definition, used by api::KinesisApi and the loader.
std::string KinesisSequenceNumber(uint64_t offset, uint32_t shard);

}  // namespace basin::ingest
