#include "ingest/text_encoding.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "base/file_util.h"
#include "base/hash.h"
#include "ingest/object_metadata.h"

namespace basin::ingest {

bool Utf8Validator::Feed(std::string_view bytes) {
  if (failed_) return false;
  for (size_t i = 0; i < bytes.size(); ++i, ++offset_) {
    const uint8_t b = static_cast<uint8_t>(bytes[i]);
    if (needed_ > 0) {
      if (b < lower_ || b > upper_) {
        failed_ = true;
        error_offset_ = seq_start_;
        error_line_ = line_;
        return false;
      }
      lower_ = 0x80;
      upper_ = 0xBF;
      --needed_;
      continue;
    }
    if (b < 0x80) {
      if (b == '\n') ++line_;
      continue;
    }
    seq_start_ = offset_;
    if (b >= 0xC2 && b <= 0xDF) {
      needed_ = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      needed_ = 2;
      if (b == 0xE0) lower_ = 0xA0;  // no overlongs
      if (b == 0xED) upper_ = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      needed_ = 3;
      if (b == 0xF0) lower_ = 0x90;
      if (b == 0xF4) upper_ = 0x8F;  // max U+10FFFF
    } else {
      failed_ = true;
      error_offset_ = offset_;
      error_line_ = line_;
      return false;
    }
  }
  return true;
}

bool Utf8Validator::Finish() {
  if (failed_) return false;
  if (needed_ > 0) {
    failed_ = true;
    error_offset_ = seq_start_;
    error_line_ = line_;
    return false;
  }
  return true;
}

Result<FileScan> ScanFile(const std::string& path,
                          const std::function<void(uint64_t, uint64_t)>& progress) {
  BASIN_ASSIGN_OR_RETURN(ReadOnlyFile file, ReadOnlyFile::Open(path));
  const int fd = file.fd();
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "stat " + path);
  const uint64_t total = static_cast<uint64_t>(st.st_size);
  FileScan scan;
  Sha256Hasher hasher;
  Utf8Validator utf8;
  std::vector<char> buffer(1 << 20);
  while (true) {
    BASIN_ASSIGN_OR_RETURN(size_t n, file.ReadUpTo(buffer.data(), buffer.size()));
    if (n == 0) break;
    const std::string_view block(buffer.data(), n);
    if (scan.head.size() < kSniffBytes) {
      scan.head.append(block.substr(0, kSniffBytes - scan.head.size()));
    }
    hasher.Update(block);
    if (scan.valid_utf8 && !utf8.Feed(block)) scan.valid_utf8 = false;
    scan.bytes += n;
    if (progress) progress(scan.bytes, total);
  }
  if (scan.valid_utf8 && !utf8.Finish()) scan.valid_utf8 = false;
  if (!scan.valid_utf8) {
    scan.first_invalid_offset = utf8.error_offset();
    scan.first_invalid_line = utf8.error_line();
  }
  scan.sha256 = HexEncode(hasher.Finish());
  scan.has_utf8_bom = scan.head.size() >= 3 && scan.head.compare(0, 3, "\xEF\xBB\xBF") == 0;
  scan.nul_in_head = scan.head.find('\0') != std::string::npos;
  return scan;
}

bool LooksLikeText(std::string_view head, std::string* description) {
  auto mime = SniffContentTypeAndCharset(head);
  if (!mime.ok()) return true;  // no magic database: the NUL check alone decides
  if (description != nullptr) *description = *mime;
  return mime->find("charset=binary") == std::string::npos;
}

}  // namespace basin::ingest
