#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

namespace basin::security {
class Authorizer;
}

namespace basin::cli {

class Platform;

struct AwsServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 4566;     // 0: pick a free port
  bool port_given = false;  // the user chose the port: failing to bind it is an error
  std::string port_file;    // written with the bound port once listening
  int threads = 0;          // HTTP I/O threads (0: one per core)
  // S3 PUTs and parts are read whole into memory: objects larger than this need multipart.
  uint64_t max_body_bytes = 512ULL << 20;
  int blocking_threads = 4;  // disk work of S3 and Kinesis (GetRecords, CreateStream, objects)
};

// `basin serve`'s AWS-compatible endpoint: one HTTP port with api::AwsEndpoint as its handler,
// serving Kinesis Data Streams over the platform's log (the `clickstream` stream feeds
// raw.clickstream; every other stream raw.<name>, its loader started and stopped with the
// stream) and S3 over the platform's bucket store (objects put into `landing` are
// loaded: `<table>/<file>.csv|json|ndjson|jsonl` into raw.<table>, anything else as an object).
// Access keys come from the catalog (`basin keys create`). Stop it before the platform.
class AwsServer {
 public:
  // Starts listening. When the default port is taken and the user did not ask for it, logs a
  // warning and returns nullptr (the rest of Basin runs without the AWS endpoint).
  static Result<std::unique_ptr<AwsServer>> Start(Platform& platform,
                                                  const security::Authorizer* authorizer,
                                                  const AwsServerOptions& options);
  ~AwsServer();  // Stop(0)

  uint16_t port() const;
  // Stops taking requests, lets in-flight ones answer (up to `grace_seconds`), waits for pending
  // disk work. Idempotent.
  void Stop(int grace_seconds);

 private:
  struct Impl;
  AwsServer();
  std::unique_ptr<Impl> impl_;
};

}  // namespace basin::cli
