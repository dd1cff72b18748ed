#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

namespace hygie::log {

void InitToStderr() {
  auto logger = spdlog::stderr_color_mt("hygie");
  spdlog::set_default_logger(logger);
}

void SetLevel(std::string_view level) {
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace hygie::log
