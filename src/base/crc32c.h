#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace basin {

// CRC-32C (Castagnoli), as used by the log's record frames. Uses the SSE4.2 instruction when the
// CPU has it, a table otherwise; both give the same value. Extend(Extend(0, a), b) == Crc32c(ab).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);
inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }
inline uint32_t Crc32c(std::string_view s) { return Crc32c(s.data(), s.size()); }

}  // namespace basin
