#pragma once
// What the fuzz targets share: an invariant check that stops the run with a message (libFuzzer
// then saves the input as a crash), and splitting an input into parts at NUL bytes (the readers
// refuse NUL in what they parse, so a NUL is a separator no part needs).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string_view>
#include <vector>

namespace hygie::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
  std::abort();
}

// The input as text.
inline std::string_view Text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The first `n` parts of text split at NUL bytes (the last part keeps any further NULs); missing
// parts are empty.
inline std::vector<std::string_view> Parts(std::string_view text, size_t n) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < n) {
    size_t nul = text.find('\0');
    if (nul == std::string_view::npos) break;
    parts.push_back(text.substr(0, nul));
    text.remove_prefix(nul + 1);
  }
  parts.push_back(text);
  parts.resize(n);
  return parts;
}

// The files of a journal tree that audit_segment_fuzz.cc's inputs write (one byte of an input
// names one by its index) and that corpus_gen.cc reads into its seeds, in that order.
inline constexpr const char* kAuditTreeFiles[] = {
    "seg-00000000000000000000.log",
    "seg-00000000000000000000.pruned",
    "seg-00000000000000000003.log",
    "seg-00000000000000000006.log",
    "checkpoints.log",
    "level-0.hash",
    "level-1.hash",
    "verifier.key",
    "seg-00000000000000000003.pruned",
};

}  // namespace hygie::fuzz

// Stops the run when `cond` is false.
#define FUZZ_CHECK(cond) \
  ((cond) ? static_cast<void>(0) : ::hygie::fuzz::Fail(__FILE__, __LINE__, #cond))
