#pragma once

#include "api/http_types.h"
#include "base/status.h"

namespace basin::api {

// The one place that maps Basin's error codes to HTTP status codes.
int HttpStatusFor(ErrorCode code);

// A JSON body (already serialised) with a status.
HttpResponse JsonResponse(std::string body, int status = 200);

// {"error":{"code":"StreamNotFound","message":"..."}} with the mapped status.
HttpResponse ErrorResponse(const Status& status);

}  // namespace basin::api
