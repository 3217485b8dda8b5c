// The client's Reader (include/sluice/client.h): one object version, a window buffer and
// read-ahead for sequential readers. Internal to src/client.
//
// Reads are served from the current window when they fall inside it; otherwise a new
// window is fetched (at least the request, `readahead` bytes once the reader has read
// sequentially twice). While a sequential reader consumes a window, the next one is
// fetched in the background. A window read that finds another version of the object
// fails with kFailedPrecondition: the bytes of two versions never mix.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>

#include "sluice/client.h"

namespace sluice::client {

// Reads [offset, offset + out.size()) of `path` into out, reporting the version served.
using ReadFn = std::function<Result<size_t>(const std::string& path, uint64_t offset,
                                            std::span<char> out, std::string* version)>;

std::unique_ptr<Reader> MakeReader(ObjectStat stat, uint64_t readahead, ReadFn read);

}  // namespace sluice::client
