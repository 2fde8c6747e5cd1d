#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "log/log.h"
#include "log/stream.h"

namespace basin::log {

// Bytes of frames between two sparse index points.
inline constexpr uint64_t kIndexInterval = 64 << 10;

// Loads one stream directory into a ready-to-append Stream: reads stream.json, lists the
// segments, scans the last one frame by frame and cuts it back to its valid prefix (a torn or
// corrupt tail), rewriting a damaged header and restoring the preallocation. Sealed segments are
// only header-checked; damage inside them surfaces as Corruption to readers. Records what it
// found in `report` (reason stays empty for a clean stream).
//
// Fails (and the caller skips the stream) only when the stream cannot be loaded at all: no or an
// unreadable stream.json, or an I/O error while repairing. Never on garbage inside a segment.
// Called by Log::Open and Log::CreateStream; not thread-safe (the stream is not shared yet).
Result<std::shared_ptr<Stream>> RecoverStream(const std::string& stream_dir,
                                              const std::string& name, const LogOptions& options,
                                              RecoveryReport::StreamRecovery* report);

}  // namespace basin::log
