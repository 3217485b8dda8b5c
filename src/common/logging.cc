#include "common/logging.h"

#include <string>

namespace sluice {

bool IsLogLevel(std::string_view level) {
  return level == "off" || spdlog::level::from_str(std::string(level)) != spdlog::level::off;
}

bool SetLogLevel(std::string_view level) {
  auto l = spdlog::level::from_str(std::string(level));
  if (l == spdlog::level::off && level != "off") return false;
  spdlog::set_level(l);
  return true;
}

}  // namespace sluice
