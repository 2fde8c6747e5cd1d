#include "ingest/record_format.h"

#include <cstdio>

namespace basin::ingest {

catalog::TableRef StreamRecordsTable(std::string_view stream) {
  std::string name;
  name.reserve(stream.size());
  for (char c : stream) {
    if (c >= 'A' && c <= 'Z') {
      name.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
      name.push_back(c);
    } else {
      name.push_back('_');
    }
  }
  return {"raw", std::move(name)};
}

const std::vector<catalog::Column>& StreamRecordColumns() {
  static const std::vector<catalog::Column> kColumns = {
      {"ingest_time", "TIMESTAMP"}, {"partition_key", "VARCHAR"},
      {"shard", "INTEGER"},         {"sequence_number", "VARCHAR"},
      {"source", "VARCHAR"},        {"client_ip", "VARCHAR"},
      {"user_agent", "VARCHAR"},    {"data", "JSON"},
      {"data_base64", "VARCHAR"},
  };
  return kColumns;
}

const std::vector<catalog::Column>& StreamRecordPartitionColumns() {
  static const std::vector<catalog::Column> kColumns = {{"dt", "DATE"}, {"hour", "INTEGER"}};
  return kColumns;
}

std::string KinesisSequenceNumber(uint64_t offset, uint32_t shard) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "49%020llu%04u", static_cast<unsigned long long>(offset),
                static_cast<unsigned>(shard));
  return buf;
}

}  // namespace basin::ingest
