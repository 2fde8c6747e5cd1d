#pragma once

#include <cstdint>
#include <string>

namespace basin {

// Appends the UTF-8 encoding of a Unicode code point (the caller has checked it is at most
// 0x10FFFF; surrogates are the caller's to combine first). What every parser of `\u` escapes
// (JSON, JSONata, XML character references) needs.
void AppendUtf8(std::string& out, uint32_t code_point);

}  // namespace basin
