// Internal to the SigV4 verifier (sigv4.cc) and its tests: the pieces of a SigV4
// canonical request, computed the way S3 computes them.
//
// S3 neither normalises nor double-encodes the path. Because clients differ in which
// bytes they percent-encode, the URI and the query come in up to two candidate forms:
// the normalised one (decoded, then re-encoded with SigV4's UriEncode, which is what S3
// and botocore produce) and, where different, the bytes as received.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http.h"

namespace sluice::net::sigv4_internal {

// A query string split on '&' and the first '=', still percent-encoded, in order.
using RawParams = std::vector<std::pair<std::string, std::string>>;
RawParams SplitRawQuery(std::string_view query);

// SigV4's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex); '/' is
// kept when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);
// Percent-decoding; nullopt on a malformed escape. '+' stays '+' in a path; in a query
// (`plus_is_space`) it is a space, as the handlers (ParseQuery) and S3 read it, so a
// signature over "a%2Bb" does not cover a request saying "a+b".
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space = false);

// Candidate canonical URIs for a raw request path (normalised first).
std::vector<std::string> CanonicalUris(std::string_view raw_path);
// Candidate canonical query strings (normalised first): pairs sorted by encoded name,
// then value; X-Amz-Signature left out when `presigned`.
std::vector<std::string> CanonicalQueries(const RawParams& params, bool presigned);
// "name:value\n" per signed header (lowercase names, in the order given): values of
// repeated headers joined by ',', each trimmed with runs of spaces collapsed.
std::string CanonicalHeaders(const HttpRequest& request, const std::vector<std::string>& names);

// "20240501T120000Z" <-> unix seconds.
std::optional<int64_t> ParseAmzDate(std::string_view s);
std::string FormatAmzDate(int64_t unix_s);

}  // namespace sluice::net::sigv4_internal
