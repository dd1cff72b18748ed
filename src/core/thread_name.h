#pragma once
// Names the calling thread, as `top -H`, `ps -L`, `perf` and gdb show it: e.g. "io-0",
// "journal:acme", "store:acme". Linux keeps 15 bytes; a longer name is cut there (at a UTF-8
// character boundary). Best effort: a failure changes nothing else.

#include <string>
#include <string_view>

namespace hygie {

// The name as it will be kept (at most kMaxThreadNameBytes bytes).
std::string ThreadName(std::string_view name);
inline constexpr size_t kMaxThreadNameBytes = 15;

void SetThreadName(std::string_view name);

}  // namespace hygie
