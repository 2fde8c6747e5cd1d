#include "storage/bucket_codec.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "base/assert.h"
#include "base/file_util.h"

namespace basin::storage::bucket_internal {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates, and code points past U+10FFFF.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string NormalizeEtag(std::string_view etag) {
  std::string out;
  for (char c : etag) {
    if (c == '"') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string EncodeMap(const std::map<std::string, std::string>& map) {
  std::string out;
  for (const auto& [name, value] : map) {
    out += std::to_string(name.size());
    out += ':';
    out += name;
    out += std::to_string(value.size());
    out += ':';
    out += value;
  }
  return out;
}

std::map<std::string, std::string> DecodeMap(std::string_view text) {
  std::map<std::string, std::string> out;
  auto next = [&text](std::string* field) {
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    size_t length = 0;
    for (char c : text.substr(0, colon)) {
      if (c < '0' || c > '9') return false;
      length = length * 10 + static_cast<size_t>(c - '0');
    }
    if (text.size() - colon - 1 < length) return false;
    *field = std::string(text.substr(colon + 1, length));
    text.remove_prefix(colon + 1 + length);
    return true;
  };
  std::string name, value;
  while (!text.empty() && next(&name) && next(&value)) out[std::move(name)] = std::move(value);
  return out;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::getrandom(raw.data() + done, bytes - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      BASIN_CHECK(false);  // getrandom cannot fail for small sizes on Linux >= 3.17
    }
    done += static_cast<size_t>(n);
  }
  return HexEncode(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
}

bool IsUploadId(std::string_view id) {
  if (id.size() != 32) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<Md5Digest> DecodeMd5Hex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  Md5Digest digest{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < 16; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    digest[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return digest;
}

Status WriteFileDurably(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "create " + path);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = ErrnoStatus(errno, "write " + path);
      ::close(fd);
      ::unlink(path.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status s = ErrnoStatus(errno, "fsync " + path);
    ::close(fd);
    ::unlink(path.c_str());
    return s;
  }
  ::close(fd);
  return Status::Ok();
}

}  // namespace basin::storage::bucket_internal
