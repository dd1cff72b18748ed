#pragma once
// Operational logging (spdlog). Log lines carry no health data, no tokens and no key material:
// callers log identifiers of acts (method, tenant, resource type, status), never bodies or
// query values. Thread-safe.

#include <spdlog/spdlog.h>

#include <string_view>

namespace hygie::log {

// Sends log lines to stderr (stdout is for command results). Call once at start-up.
void InitToStderr();
// Sets the level from a name: trace, debug, info, warn, error, off.
void SetLevel(std::string_view level);

template <typename... Args>
void Info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::info(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void Warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::warn(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void Error(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::error(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void Debug(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::debug(fmt, std::forward<Args>(args)...);
}

}  // namespace hygie::log
