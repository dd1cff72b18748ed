#include "core/thread_name.h"

#include <pthread.h>

namespace hygie {

std::string ThreadName(std::string_view name) {
  if (name.size() <= kMaxThreadNameBytes) return std::string(name);
  size_t n = kMaxThreadNameBytes;
  // Do not cut a UTF-8 character: back up over continuation bytes (10xxxxxx).
  while (n > 0 && (static_cast<unsigned char>(name[n]) & 0xC0) == 0x80) --n;
  return std::string(name.substr(0, n));
}

void SetThreadName(std::string_view name) {
  std::string kept = ThreadName(name);
  ::pthread_setname_np(::pthread_self(), kept.c_str());
}

}  // namespace hygie
