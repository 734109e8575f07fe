// The validator: fills inputs that depend on (seed, rank, index), poisons outputs, guards every
// buffer, runs the collective once and checks every element of every local rank against values
// it computes itself. It knows nothing of backends: only the Collective interface.
#pragma once

#include <cstdint>
#include <string>

#include "primbench/primbench.hpp"

namespace primbench::validate {

// exact: inputs whose results are exactly representable in any combination order, compared
//        bit for bit. random: real-valued inputs, floating sums and products accepted within
//        the rigorous bound gamma(P-1) (SPEC §3).
enum class Mode { exact, random };

inline constexpr std::byte kPoison{0xA5};  // output payload before every run
inline constexpr std::byte kGuard{0xC3};   // guard bytes around every buffer

// Input element `index` of `rank`'s send buffer, as the bits of the problem's dtype.
template <class T> T input(const Problem& p, Mode mode, std::uint64_t seed, int rank, std::size_t index);

// Fills send buffers, poisons receive buffers and writes guards, for every local rank.
void prepare(Collective& c, Mode mode, std::uint64_t seed);

// Checks guards, unchanged send buffers and every output element after one run on inputs from
// prepare(c, mode, seed). Returns "" when correct, else one line: the first wrong rank and
// element, expected and got, and how many elements were wrong.
std::string check(Collective& c, Mode mode, std::uint64_t seed);

// prepare, run, check for `rounds` fresh seeds starting at `seed`; first failure or "".
std::string rounds(Collective& c, Mode mode, std::uint64_t seed, int rounds);

}  // namespace primbench::validate
