// Helpers of libprimbench_check.so's C functions (check_c.cpp, bench/peer_c.cpp), which the
// mpi4py peer calls through ctypes: names to enums, and messages into the caller's buffer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

namespace primbench::c_api {

// The one of `all` whose name is `text`; else std::invalid_argument naming `what`.
template <class E> E named(std::string_view text, std::initializer_list<E> all, const char* what) {
  for (E e : all)
    if (name(e) == text) return e;
  throw std::invalid_argument(std::string("unknown ") + what + " '" + std::string(text) + "'");
}

// `text` into out[0 .. cap), cut at cap - 1 bytes and terminated.
inline void copy_out(const std::string& text, char* out, std::size_t cap) {
  if (!cap) return;
  const std::size_t n = std::min(text.size(), cap - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

}  // namespace primbench::c_api
