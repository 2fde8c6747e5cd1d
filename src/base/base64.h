#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace basin {

// Standard base64 (RFC 4648 alphabet, '=' padding).
std::string Base64Encode(std::string_view data);

enum class Base64Padding {
  kRequired,  // the length must be a multiple of 4 ("ab==")
  kOptional,  // "ab" is accepted too (some AWS clients leave padding off)
};
// nullopt on any character outside the alphabet, padding anywhere but the end, or a length no
// encoding can have.
std::optional<std::string> Base64Decode(std::string_view text,
                                        Base64Padding padding = Base64Padding::kRequired);

}  // namespace basin
