#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_types.h"
#include "base/clock.h"
#include "log/log.h"

namespace basin::api {

// Runs a task that may block (disk reads, stream creation) somewhere other than the HTTP I/O
// thread. Empty: run it inline on the calling thread.
using BlockingExecutor = std::function<void(std::function<void()>)>;

struct KinesisApiOptions {
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  // Runs GetRecords, CreateStream and DeleteStream (they block on disk). Empty: inline.
  BlockingExecutor run_blocking;
  // Key for the HMAC that seals shard iterators and ListShards / ListStreams tokens. Empty: a
  // random key per process (iterators then do not survive a restart; AWS's expire in 5 min).
  std::string token_secret;
  uint32_t default_shard_count = 4;              // CreateStream without ShardCount
  uint64_t max_record_bytes = 1ULL << 20;        // Data + PartitionKey of one record
  uint64_t max_put_records_bytes = 5ULL << 20;   // all Data + PartitionKeys of a PutRecords
  uint64_t max_get_records_bytes = 10ULL << 20;  // Data returned by one GetRecords
  int64_t iterator_lifetime_us = 300'000'000;    // 5 minutes, as AWS
  // GetRecords stops scanning other shards' records past this many bytes and answers with what
  // it has (possibly nothing) and an advanced iterator, so one call never reads a whole stream.
  uint64_t max_scan_bytes = 64ULL << 20;
  // Called on `run_blocking` once CreateStream has made the stream in the log, before it answers
  // (the platform starts the stream's loader). A non-ok Status undoes the creation (the stream is
  // deleted again) and is the answer: AlreadyExists is a ResourceInUseException. Empty: none.
  std::function<Status(const std::string& stream)> on_stream_created;
  // Called on `run_blocking` once DeleteStream has removed the stream from the log, before it
  // answers (the platform stops the stream's loader). Empty: none.
  std::function<void(const std::string& stream)> on_stream_deleted;
};

// What the transport knows about the caller; the client IP goes into each record's envelope.
struct KinesisCallContext {
  std::string client_ip;
  std::string user_agent;
};

// The Kinesis Data Streams API (JSON 1.1, `X-Amz-Target: Kinesis_20131202.<Op>`) over the log,
// independent of the transport: the caller passes the operation and the JSON body and gets an
// HttpResponse (200 with `application/x-amz-json-1.1`, or an AWS error shape
// `{"__type":"...","message":"..."}` with 400 / 500), always with `x-amzn-RequestId`.
//
// Streams are log streams; records are appended with an `ingest::RecordEnvelope` (source
// kKinesis) around the Data bytes, and GetRecords returns the envelope's payload. Sequence
// numbers and shard iterators are derived from log offsets (formats: docs/aws-compatibility.md).
//
// Called by the HTTP route for `POST /` with an `X-Amz-Target` header (wired by `cli`).
// Thread-safe; `Handle` never blocks the calling thread on disk: PutRecord(s) complete on the
// log's writer thread, GetRecords / CreateStream / DeleteStream run on `run_blocking`. Pending
// work keeps the API's state alive, but the Log must outlive every pending `respond`.
class KinesisApi {
 public:
  KinesisApi(log::Log* log, Clock* clock, KinesisApiOptions options);

  // `operation` is "PutRecords" or the whole target "Kinesis_20131202.PutRecords". Calls
  // `respond` exactly once, now or later, from any thread.
  void Handle(std::string_view operation, std::string_view body, const KinesisCallContext& call,
              Responder respond);
  // Same with an empty call context.
  void Handle(std::string_view operation, std::string_view body, Responder respond);

  // `arn:aws:kinesis:<region>:<account>:stream/<name>`
  std::string StreamArn(std::string_view stream) const;

  // The sequence number of the record at log offset `offset` in shard `shard`:
  // "49" + 20-digit zero-padded offset + 4-digit zero-padded shard (26 digits).
  static std::string SequenceNumber(uint64_t offset, uint32_t shard);
  struct ParsedSequenceNumber {
    uint64_t offset = 0;
    uint32_t shard = 0;
  };
  static std::optional<ParsedSequenceNumber> ParseSequenceNumber(std::string_view text);

  // The most an envelope adds to a record's Data (ingest::RecordEnvelope: 6 bytes of header, an
  // IP of up to 64 bytes, a user agent cut at 1 KiB). The Log must accept records of
  // `max_record_bytes + kMaxEnvelopeOverhead`, or a full-size Kinesis record fails its append.
  static constexpr uint64_t kMaxEnvelopeOverhead = 6 + 64 + 1024;

  static constexpr std::string_view kContentType = "application/x-amz-json-1.1";
  static constexpr std::string_view kTargetPrefix = "Kinesis_20131202.";

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace basin::api
