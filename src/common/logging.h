// Logging: spdlog underneath, one process-wide logger. Use SLUICE_LOG_INFO(fmt, args...)
// etc. Thread-safe.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace sluice {
// level: trace, debug, info, warn, error, off. Returns false for an unknown level.
bool SetLogLevel(std::string_view level);
// Whether `level` names a level SetLogLevel knows (trace, debug, info, warn, error, off).
bool IsLogLevel(std::string_view level);
}  // namespace sluice

#define SLUICE_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define SLUICE_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define SLUICE_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define SLUICE_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
