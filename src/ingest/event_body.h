#pragma once

#include <functional>
#include <string_view>

#include "base/status.h"
#include "ingest/ingest_limits.h"

namespace simdjson::dom {
class element;
}

namespace basin::ingest {

// Visits each event of an ingest request body. The forms accepted:
//   - one JSON object                                  {"event_id": …}
//   - a JSON array of objects                          [{…}, {…}]
//   - NDJSON: one object per line (Content-Type application/x-ndjson, or detected when the body
//     is not a single JSON document); blank lines are skipped
// The visitor gets each element's index and either the parsed object with its JSON text (the
// original bytes where the body has them, else the element re-serialised) or why it is not an
// event: MalformedJson, ValidationFailed ("not a JSON object"), RecordTooLarge. The element is
// only valid during the call.
//
// A body that is a malformed single document or array fails as a whole (MalformedJson); in
// NDJSON each bad line is reported on its own, so one bad line does not sink the rest. An empty
// body is MalformedBody; more than max_records_per_request events PayloadTooLarge.
//
// Parsing uses simdjson's DOM API, which picks the fastest kernel for the CPU at run time (its
// on-demand API is compiled for the build machine's baseline, scalar on a generic x86-64 build).
using EventVisitor = std::function<void(size_t index, const simdjson::dom::element* event,
                                        std::string_view json, const Status& error)>;

Status VisitEvents(std::string_view body, bool ndjson_content_type, const IngestLimits& limits,
                   const EventVisitor& visit);

}  // namespace basin::ingest
