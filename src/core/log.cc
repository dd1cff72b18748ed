#include "core/log.h"

#include <string>

namespace hygie::log {

void SetLevel(std::string_view level) {
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace hygie::log
