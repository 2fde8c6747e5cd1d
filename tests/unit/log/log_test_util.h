#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "log/log.h"
#include "log/segment_format.h"
#include "unit/temp_dir.h"

namespace basin::log::testing {

using test::TempDir;

inline LogOptions TestOptions(const std::string& dir, uint64_t segment_bytes = 64 << 10) {
  LogOptions options;
  options.dir = dir;
  options.segment_bytes = segment_bytes;
  return options;
}

inline std::unique_ptr<Log> OpenOrDie(const LogOptions& options) {
  Result<std::unique_ptr<Log>> log = Log::Open(options);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  if (!log.ok()) return nullptr;
  return std::move(log).value();
}

inline RecordInput Rec(std::string key, std::string data) {
  RecordInput r;
  r.partition_key = std::move(key);
  r.data = std::move(data);
  return r;
}

// Deterministic payload for record `i`: never ends in a zero byte, so a cut inside a frame always
// changes its bytes.
inline std::string Payload(uint64_t i, size_t size = 40) {
  std::string s = "record-" + std::to_string(i) + "-";
  while (s.size() < size) s.push_back(static_cast<char>('a' + (s.size() * 7 + i) % 26));
  s.resize(size);
  return s;
}

// Reads everything from `from` to the acknowledged end.
inline Result<std::vector<LogRecord>> ReadAll(const Log& log, const std::string& stream,
                                              uint64_t from = 0, size_t batch = 1000) {
  BASIN_ASSIGN_OR_RETURN(std::unique_ptr<LogReader> reader, log.OpenReader(stream, from));
  std::vector<LogRecord> all;
  for (;;) {
    BASIN_ASSIGN_OR_RETURN(std::vector<LogRecord> got, reader->ReadBatch(batch, 64 << 20));
    if (got.empty()) return all;
    for (auto& r : got) all.push_back(std::move(r));
  }
}

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Segment files of a stream, oldest first.
inline std::vector<std::string> SegmentPaths(const std::string& log_dir,
                                             const std::string& stream) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(log_dir + "/" + stream)) {
    if (ParseSegmentFileName(e.path().filename().string())) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace basin::log::testing
