#pragma once

#include <cstdint>
#include <string>

namespace basin {

// 1234567 -> "1,234,567": counts in summary lines and progress bars.
std::string WithThousands(int64_t n);

}  // namespace basin
