#include "base/base64.h"

#include <array>
#include <cstdint>

namespace basin {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The value of each byte in the alphabet, or -1: one table look-up per character.
constexpr std::array<int8_t, 256> kValues = [] {
  std::array<int8_t, 256> values{};
  values.fill(-1);
  for (int i = 0; i < 64; ++i) values[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return values;
}();

int ValueOf(char c) { return kValues[static_cast<uint8_t>(c)]; }

}  // namespace

std::string Base64Encode(std::string_view data) {
  std::string out((data.size() + 2) / 3 * 4, '=');
  char* o = out.data();
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3, o += 4) {
    const uint32_t v = (static_cast<uint8_t>(data[i]) << 16) |
                       (static_cast<uint8_t>(data[i + 1]) << 8) | static_cast<uint8_t>(data[i + 2]);
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = kAlphabet[(v >> 6) & 63];
    o[3] = kAlphabet[v & 63];
  }
  const size_t rest = data.size() - i;
  if (rest > 0) {  // the '=' padding is already in place
    uint32_t v = static_cast<uint8_t>(data[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(data[i + 1]) << 8;
    o[0] = kAlphabet[(v >> 18) & 63];
    o[1] = kAlphabet[(v >> 12) & 63];
    if (rest == 2) o[2] = kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text, Base64Padding padding) {
  if (text.size() % 4 == 0) {
    // Up to two '=' may end a padded text; any other '=' fails as a non-alphabet character.
    for (int k = 0; k < 2 && !text.empty() && text.back() == '='; ++k) text.remove_suffix(1);
  } else if (padding == Base64Padding::kRequired) {
    return std::nullopt;
  }
  if (text.size() % 4 == 1) return std::nullopt;
  // Whole groups of four characters become three bytes; a final group of two or three
  // characters one or two (its unused low bits are ignored).
  const size_t groups = text.size() / 4;
  const size_t tail = text.size() % 4;
  std::string out(groups * 3 + (tail == 0 ? 0 : tail - 1), '\0');
  char* o = out.data();
  const char* in = text.data();
  for (size_t g = 0; g < groups; ++g, in += 4, o += 3) {
    const int a = ValueOf(in[0]), b = ValueOf(in[1]), c = ValueOf(in[2]), d = ValueOf(in[3]);
    if ((a | b | c | d) < 0) return std::nullopt;
    const uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    o[0] = static_cast<char>(v >> 16);
    o[1] = static_cast<char>((v >> 8) & 0xFF);
    o[2] = static_cast<char>(v & 0xFF);
  }
  if (tail > 0) {
    uint32_t v = 0;
    for (size_t k = 0; k < tail; ++k) {
      const int value = ValueOf(in[k]);
      if (value < 0) return std::nullopt;
      v |= static_cast<uint32_t>(value) << (18 - 6 * k);
    }
    o[0] = static_cast<char>(v >> 16);
    if (tail == 3) o[1] = static_cast<char>((v >> 8) & 0xFF);
  }
  return out;
}

}  // namespace basin
