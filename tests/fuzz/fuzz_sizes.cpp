// libFuzzer target: the --ranks/--count range parser and the --impl glob matcher. Any input must
// parse or throw UsageError; no crash, no undefined behaviour, no runaway allocation.
#include <cstdint>
#include <string>

#include "selection.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)primbench::parse_sizes(text, "count");
  } catch (const primbench::UsageError&) {
  }
  // The first line is a pattern, the rest a name.
  const std::size_t nl = text.find('\n');
  const std::string pattern = text.substr(0, nl), name = nl == std::string::npos ? "" : text.substr(nl + 1);
  const bool match = primbench::glob_match(pattern, name);
  // every text without a bracket expression ([set]) matches itself
  if (pattern == name && pattern.find('[') == std::string::npos && !match) __builtin_trap();
  if (pattern == "*" && !match) __builtin_trap();
  return 0;
}
