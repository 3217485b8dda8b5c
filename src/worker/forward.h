// Forwarding: a worker that receives a request for a path it does not own passes it,
// unchanged (method, target, headers including Host and Authorization, streamed body),
// to the owner and streams the owner's answer back. The forwarded request carries
// `X-Sluice-Hop: 1`, and a request carrying it is always served where it lands: no loops.
//
// When the owner cannot be reached (connection refused, connect timeout, or nothing
// answered before stall_timeout) Forward sets
// `*unreachable`, returns kUnavailable and has written nothing to `out` and read nothing
// from `body`: the caller then serves the request itself, so a dead owner costs one
// failed connect.
// Failures after that point are reported into `out` (502) or, mid-body, end the response
// early (the server closes the connection: the client sees a short body).
//
// Thread-safety: thread-safe; each handler thread reuses its own keep-alive connections.
#pragma once

#include <string_view>

#include "common/units.h"
#include "net/http.h"

namespace sluice::worker {

inline constexpr std::string_view kHopHeader = "X-Sluice-Hop";
inline constexpr std::string_view kRingHeader = "X-Sluice-Ring";

struct ForwardOptions {
  Duration connect_timeout = std::chrono::milliseconds(500);
  // The exchange fails once no byte moved either way for this long (whole seconds, at
  // least 1). Not a limit on the whole exchange: a 10 GiB GET through a member that does
  // not own it takes as long as the client reads.
  Duration stall_timeout = std::chrono::seconds(60);
  std::string ring_fingerprint;  // sent as X-Sluice-Ring
};

// `*silent` (when given) is set when the owner answered nothing at all (refused, timed
// out, reset): whether or not the request may be served here, the owner is not answering.
Status Forward(const net::HttpRequest& req, net::BodyReader& body, net::ResponseWriter& out,
               std::string_view endpoint, const ForwardOptions& options, bool* unreachable,
               bool* silent = nullptr);

}  // namespace sluice::worker
