#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace basin::ingest {

// What one streamed pass over a batch file found: its content hash, whether its bytes are UTF-8,
// and whether it looks like text at all. Computed before anything is written, so a bad file is
// refused with a typed error and leaves nothing behind.
struct FileScan {
  uint64_t bytes = 0;
  std::string sha256;  // lower-case hex of the file bytes
  bool valid_utf8 = true;
  uint64_t first_invalid_offset = 0;  // byte offset of the first invalid UTF-8 sequence
  uint64_t first_invalid_line = 0;    // its 1-based line
  bool has_utf8_bom = false;
  bool nul_in_head = false;  // a NUL byte in the first 64 KiB
  std::string head;          // the first 64 KiB (for content sniffing)
};

constexpr uint64_t kSniffBytes = 64 * 1024;

// Reads `path` once in blocks: SHA-256, UTF-8 validity (the first invalid sequence's offset and
// line), BOM, NULs in the head. `progress(done, total)` is called after each block. IoError or
// NotFound if the file cannot be read.
Result<FileScan> ScanFile(const std::string& path,
                          const std::function<void(uint64_t, uint64_t)>& progress = {});

// Whether libmagic takes these bytes (a file's head) for text: false for "binary" encodings.
// `description` receives libmagic's MIME answer (e.g. "text/csv; charset=utf-8").
bool LooksLikeText(std::string_view head, std::string* description);

// Incremental UTF-8 validator (RFC 3629: no overlongs, no surrogates, max U+10FFFF), fed block by
// block. Exposed for tests.
class Utf8Validator {
 public:
  // Feeds bytes; returns false at the first invalid sequence (then `error_offset()` says where).
  bool Feed(std::string_view bytes);
  // At the end of input: false if a sequence was cut short.
  bool Finish();
  uint64_t error_offset() const { return error_offset_; }
  uint64_t error_line() const { return error_line_; }

 private:
  uint64_t offset_ = 0;     // bytes consumed so far
  uint64_t line_ = 1;       // current line (1-based)
  uint64_t seq_start_ = 0;  // offset of the sequence being completed
  int needed_ = 0;          // continuation bytes still expected
  uint8_t lower_ = 0x80;    // allowed range of the next continuation byte
  uint8_t upper_ = 0xBF;
  uint64_t error_offset_ = 0;
  uint64_t error_line_ = 0;
  bool failed_ = false;
};

}  // namespace basin::ingest
