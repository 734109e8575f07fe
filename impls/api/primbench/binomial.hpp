// The binomial tree MPI's binomial collectives use, over ranks relative to the root, any P and
// any root: relative rank v = (rank - root) mod P; the children of v are v + 2^k for 2^k below
// v's lowest set bit and v + 2^k < P (every such 2^k for the root, v = 0); v's parent is v with
// its lowest set bit cleared; v's subtree is [v, v + span(v)). Header-only; usable by plugins.
// (dispatch.hpp's to_relative_order / to_absolute_order reorder whole buffers the same way.)
#pragma once

#include <algorithm>
#include <vector>

namespace primbench {

struct BinomialTree {
  int ranks;  // P
  int root;   // the absolute rank at relative rank 0

  // Relative rank of absolute `rank`.
  int relative(int rank) const { return (rank - root + ranks) % ranks; }
  // Absolute rank of relative `v`.
  int absolute(int v) const { return (v + root) % ranks; }
  // Number of ranks in v's subtree, v included: relative ranks [v, v + span(v)).
  int span(int v) const { return v == 0 ? ranks : std::min(v & -v, ranks - v); }
  // Relative parent of v != 0: v with its lowest set bit cleared.
  static int parent(int v) { return v - (v & -v); }
  // Calls f(c) for each relative child c of v, smallest subtree first: v + 1, v + 2, v + 4, ...
  template <class F> void for_children(int v, F&& f) const {
    for (int k = 1; k < span(v); k <<= 1) f(v + k);
  }
  // Calls f(c) for each relative child c of v, largest subtree first, as MPI's binomial scatter
  // and broadcast send: it has the longest way to go.
  template <class F> void for_children_largest_first(int v, F&& f) const {
    int k = 1;
    while (2 * k < span(v)) k *= 2;
    for (; k >= 1 && k < span(v); k >>= 1) f(v + k);
  }
  // The relative children of v, smallest subtree first.
  std::vector<int> children(int v) const {
    std::vector<int> c;
    for_children(v, [&](int child) { c.push_back(child); });
    return c;
  }
};

}  // namespace primbench
