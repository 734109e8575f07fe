// primbench: one entry point. list | run | validate here; report, compare and history are the
// Python tools in reports/ and ci/, run with Debian's python3.
#include <dlfcn.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <benchmark/benchmark.h>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "runner.hpp"
#include "selection.hpp"
#include "version.hpp"

namespace primbench {
namespace {

void load_plugin(const std::string& path) {
  const std::size_t before = registry().implementations().size();
  if (!std::ifstream(path)) throw UsageError("plugin '" + path + "' does not exist or cannot be read");
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    std::string why = ::dlerror();
    why = why.substr(0, why.find('\n'));
    throw UsageError("cannot load plugin '" + path + "': " + why + " (expected a shared library built against primbench/primbench.hpp)");
  }
  if (registry().implementations().size() == before)
    throw UsageError("plugin '" + path + "' registered no implementation (expected PRIMBENCH_REGISTER in it)");
}

std::size_t available_memory() {
  std::ifstream f("/proc/meminfo");
  for (std::string key; f >> key;) {
    std::size_t kb = 0;
    f >> kb;
    if (key == "MemAvailable:") return kb * 1024;
    f.ignore(256, '\n');
  }
  return static_cast<std::size_t>(::sysconf(_SC_AVPHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1u << 30));
  return buf;
}

// Refuses, before anything is allocated, a problem that would not fit in memory.
// Device backends are also held to their free device memory: buffers and guards on the device,
// the validator's staging copy on the host.
void check_memory(const std::vector<Planned>& plan) {
  const std::size_t avail = available_memory();
  for (const Planned& p : plan) {
    const std::size_t need = footprint(p.problem);
    if (need > avail / 10 * 9)
      throw UsageError(p.name + " needs about " + gib(need) + " but only " + gib(avail) +
                       " of memory is available (use a smaller --count or --ranks)");
    const std::size_t device_free = registry().availability(p.impl->backend()).device_free_bytes;
    if (device_free > 0 && need / 2 > device_free / 10 * 9)
      throw UsageError(p.name + " needs about " + gib(need / 2) + " of device memory but only " + gib(device_free) +
                       " is free (use a smaller --count or --ranks)");
  }
}

int exec_python(const std::string& script, int argc, char** argv) {
  const std::string path = std::string(kSourceDir) + "/" + script;
  std::vector<std::string> args = {"/usr/bin/python3", path};
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  ::execv(cargs[0], cargs.data());
  std::fprintf(stderr, "primbench: error: cannot run /usr/bin/python3 %s: %s (install python3)\n", path.c_str(),
               std::strerror(errno));
  return kUsage;
}

std::string joined(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

int list() {
  Registry& reg = registry();
  std::printf("%-22s %-10s %s\n", "implementation", "backend", "availability");
  for (const auto& impl : reg.implementations()) {
    const Availability& a = reg.availability(impl.backend());
    std::printf("%-22s %-10s %s\n", impl.name.c_str(), impl.backend().c_str(),
                a.available ? ("available" + (a.version.empty() ? "" : " (" + a.version + ")")).c_str()
                            : ("unavailable: " + a.reason).c_str());
  }
  for (const std::string& b : reg.backend_names()) {
    bool has_impl = false;
    for (const auto& impl : reg.implementations()) has_impl |= impl.backend() == b;
    if (!has_impl) std::printf("%-22s %-10s unavailable: %s\n", (b + ".*").c_str(), b.c_str(), reg.availability(b).reason.c_str());
  }
  return kOk;
}

int main_impl(int argc, char** argv) {
  if (argc >= 2) {
    const std::string cmd = argv[1];
    if (cmd == "report") return exec_python("reports/report.py", argc, argv);
    if (cmd == "compare") return exec_python("ci/compare.py", argc, argv);
    if (cmd == "history") return exec_python("ci/history.py", argc, argv);
  }

  CLI::App app{"primbench: validated benchmarks of gather, scatter and reduce across backends"};
  app.set_version_flag("--version", std::string("primbench ") + kVersion + " (" + kGitRevision + ")");
  app.require_subcommand(1);
  std::vector<std::string> plugins;
  Selection sel;
  RunOptions opts;
  std::string check = "exact", cache = "hot", ceilings;
  bool launched = false;

  auto add_common = [&](CLI::App* sub) {
    sub->add_option("--plugin", plugins, "shared library registering more implementations (repeatable)");
  };
  auto add_selectors = [&](CLI::App* sub) {
    add_common(sub);
    sub->add_option("--impl", sel.impls, "implementation globs, comma-separated (e.g. 'thread.*,seq.ref')");
    sub->add_option("--primitive", sel.primitives, "gather, scatter, reduce (comma-separated)");
    sub->add_option("--dtype", sel.dtypes, "i32, i64, f32, f64 (default f32)");
    sub->add_option("--op", sel.ops, "sum, prod, min, max for reduce (default sum)");
    sub->add_option("--ranks", sel.ranks, "rank counts: list or range, e.g. 2,4 or 1:8:x2 (default 1..cores)");
    sub->add_option("--count", sel.counts, "elements per rank: list or range with K/M/G, e.g. 1:64M:x4 (default 1:16M:x8)");
    sub->add_option("--root", sel.roots, "root ranks, or 'last' (default 0)");
    sub->add_option("--validate", opts.validate_rounds, "validation rounds before timing, fresh seed each (default 3)");
    sub->add_option("--check", check, "exact (bit-exact by construction) or random (rigorous error bound)");
    sub->add_option("--seed", opts.seed, "first validation seed")->check(CLI::NonNegativeNumber);
    sub->add_flag("--quiet", opts.quiet, "no progress or table");
    sub->add_option("--timeout", opts.timeout, "seconds one benchmark may take before the run ends (default 300)");
    // Set by the MPI launch (bench/launch.cpp) in the ranks it starts: run here, launch nothing.
    sub->add_flag("--launched", launched)->group("");
  };
  CLI::App* list_cmd = app.add_subcommand("list", "every implementation and backend, with availability");
  add_common(list_cmd);
  CLI::App* run_cmd = app.add_subcommand("run", "validate, then time, and write Google Benchmark JSON");
  add_selectors(run_cmd);
  run_cmd->add_option("--repetitions", opts.repetitions, "repetitions for statistics (default 3)");
  run_cmd->add_option("--min-time", opts.min_time, "wall seconds per repetition; the warm-up sizes the iteration count to fit (default 0.02)");
  run_cmd->add_option("--warmup", opts.warmup, "wall seconds of untimed warm-up runs, at least one (default 0.01)");
  run_cmd->add_option("--cache", cache, "hot (default) or cold (caches flushed before every iteration)");
  run_cmd->add_option("--out", opts.out, "JSON results file (default primbench.json)");
  run_cmd->add_flag("--resume", opts.resume, "keep the passing results already in --out; run only the failed and missing");
  run_cmd->add_option("--ceilings", ceilings, "READ,COPY host ceilings in GB/s instead of measuring them");
  CLI::App* validate_cmd = app.add_subcommand("validate", "validation only; exit 1 on any failure");
  add_selectors(validate_cmd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::fprintf(stderr, "primbench: error: %s (see primbench --help)\n", what.c_str());
    return kUsage;
  }

  for (const auto& p : plugins) load_plugin(p);
  if (list_cmd->parsed()) return list();

  for (CLI::App* sub : {run_cmd, validate_cmd})
    for (const char* flag : {"--impl", "--primitive", "--dtype", "--op", "--ranks", "--count", "--root"})
      if (sub->parsed() && sub->count(flag) > 0 && sub->get_option(flag)->as<std::string>().empty())
        throw UsageError(std::string("empty ") + flag + " (see primbench " + sub->get_name() + " --help for what is accepted)");

  opts.command_line = joined(argc, argv);
  opts.launch = !launched;
  opts.plugins = plugins;
  opts.timing = run_cmd->parsed();
  if (opts.timing && opts.out.empty()) opts.out = "primbench.json";
  if (check != "exact" && check != "random") throw UsageError("unknown --check '" + check + "' (accepted: exact, random)");
  opts.mode = check == "exact" ? validate::Mode::exact : validate::Mode::random;
  if (cache != "hot" && cache != "cold") throw UsageError("unknown --cache '" + cache + "' (accepted: hot, cold)");
  opts.cold = cache == "cold";
  if (opts.validate_rounds < 1) throw UsageError("--validate must be at least 1: results are never reported unvalidated");
  if (opts.repetitions < 1) throw UsageError("--repetitions must be at least 1");
  // Infinite times would loop until the watchdog ends the run.
  if (!(opts.min_time > 0 && std::isfinite(opts.min_time))) throw UsageError("--min-time must be a positive number of seconds");
  if (!(opts.warmup >= 0 && std::isfinite(opts.warmup))) throw UsageError("--warmup must be a non-negative number of seconds");
  if (!(opts.timeout > 0 && std::isfinite(opts.timeout))) throw UsageError("--timeout must be a positive number of seconds");
  if (!ceilings.empty()) {
    const auto parts = split(ceilings, ',');
    try {
      if (parts.size() != 2) throw std::invalid_argument("");
      opts.read_GBps = std::stod(parts[0]);
      opts.copy_GBps = std::stod(parts[1]);
    } catch (const std::exception&) {
      opts.read_GBps = -1;
    }
    if (!(opts.read_GBps > 0 && opts.copy_GBps > 0))
      throw UsageError("malformed --ceilings '" + ceilings + "' (accepted: READ,COPY in GB/s, e.g. 20,10)");
  }

  std::vector<std::string> unavailable;
  // Inside an MPI job of several processes (a user's mpirun or srun) every process runs the same
  // plan: process-per-rank problems with the job's rank count, nothing shared-memory.
  const int job = world().size();
  if (job > 1 && sel.ranks.empty()) sel.ranks = std::to_string(job);
  std::vector<Planned> planned = plan(sel, registry(), &unavailable);
  if (job > 1) {
    std::set<std::string> skipped;
    std::erase_if(planned, [&](const Planned& p) {
      const Backend* b = registry().backend(p.impl->backend());
      if (!b || !b->process_per_rank)
        return skipped.insert(p.impl->name + ": skipped: shared-memory implementations do not run inside an MPI job").second, true;
      if (p.problem.ranks != job)
        return skipped.insert("ranks:" + std::to_string(p.problem.ranks) + ": skipped: this MPI job has " + std::to_string(job) + " processes").second, true;
      return false;
    });
    unavailable.insert(unavailable.end(), skipped.begin(), skipped.end());
  }
  if (world().rank() == 0 && !opts.quiet)
    for (const auto& u : unavailable) std::fprintf(stderr, "skipping %s\n", u.c_str());
  if (planned.empty())
    throw UsageError("nothing to run: every selected implementation is unavailable here" +
                     (unavailable.empty() ? std::string() : " (" + unavailable.front() + ")"));
  check_memory(planned);
  return run_benchmarks(planned, opts);
}

}  // namespace
}  // namespace primbench

int main(int argc, char** argv) {
  try {
    return primbench::main_impl(argc, argv);
  } catch (const primbench::UsageError& e) {
    std::fprintf(stderr, "primbench: error: %s\n", e.what());
    return primbench::kUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "primbench: error: %s\n", e.what());
    return primbench::kUsage;
  }
}
