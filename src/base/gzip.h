#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace basin {

// Inflates a gzip (or zlib) stream. Stops with DecompressedTooLarge as soon as the output would
// pass `max_output` bytes, so a small "zip bomb" cannot exhaust memory; MalformedBody when the
// stream is corrupt or truncated.
Result<std::string> GunzipLimited(std::string_view compressed, size_t max_output);

// Compresses with gzip framing (for tests, benchmarks and clients of ours).
std::string Gzip(std::string_view data);

}  // namespace basin
