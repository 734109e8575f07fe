// Concurrency stress: validates every shared-memory implementation (seq, thread.*, tbb.*) over and
// over with random rank counts up to 4x the cores, random roots, counts, dtypes and ops, so a race
// that shows once in a thousand runs shows here. Bounded by time:
//   primbench_stress [SECONDS]   (default: PRIMBENCH_STRESS_SECONDS, else 3)
//   PRIMBENCH_STRESS_SEED=S      replays the run that printed first seed S
// Exits 1 on the first wrong result, naming the problem and the seed to reproduce it.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "primbench/primbench.hpp"
#include "validate.hpp"

int main(int argc, char** argv) {
  using namespace primbench;
  const char* env = std::getenv("PRIMBENCH_STRESS_SECONDS");
  const double seconds = argc > 1 ? std::atof(argv[1]) : env ? std::atof(env) : 3.0;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<const Implementation*> impls;
  for (const auto& impl : registry().implementations()) {
    const std::string b = impl.backend();
    if ((b == "seq" || b == "thread" || b == "tbb") && registry().availability(b).available) impls.push_back(&impl);
  }
  // A fresh seed each run, printed; PRIMBENCH_STRESS_SEED replays one.
  const char* replay = std::getenv("PRIMBENCH_STRESS_SEED");
  const std::uint64_t first_seed = replay ? std::strtoull(replay, nullptr, 10) : std::random_device{}();
  std::mt19937_64 rng;
  rng.seed(first_seed);
  const double end = now_seconds() + seconds;
  long runs = 0;
  std::uint64_t seed = first_seed;
  while (now_seconds() < end || runs < static_cast<long>(impls.size())) {
    const Implementation& impl = *impls[runs % impls.size()];
    Problem p;
    p.primitive = static_cast<Primitive>(rng() % 3);
    p.dtype = static_cast<DType>(rng() % 4);
    p.op = static_cast<Op>(rng() % 4);
    p.ranks = 1 + static_cast<int>(rng() % (4 * cores));
    // Mostly small counts (many rounds, block edges), sometimes some pages.
    p.count = rng() % 8 == 0 ? rng() % 20000 : rng() % 70;
    p.root = static_cast<int>(rng() % p.ranks);
    const auto mode = rng() % 4 == 0 ? validate::Mode::random : validate::Mode::exact;
    seed = rng();
    const std::string error = validate::rounds(*impl.make(p), mode, seed, 2);
    if (!error.empty()) {
      std::fprintf(stderr, "stress: %s %s (%s mode, seed %llu): %s\n", impl.name.c_str(), p.describe().c_str(),
                   mode == validate::Mode::exact ? "exact" : "random", static_cast<unsigned long long>(seed),
                   error.c_str());
      return 1;
    }
    ++runs;
  }
  std::printf("stress: %ld validated collectives over %zu implementations in %.1f s, all correct (first seed %llu)\n",
              runs, impls.size(), seconds, static_cast<unsigned long long>(first_seed));
  return 0;
}
