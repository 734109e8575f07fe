// primbench: one entry point. list | run | validate here; report, export, compare and history are the
// Python tools in reports/ and ci/, run with Debian's python3.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include <CLI/CLI.hpp>
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "context.hpp"
#include "journal.hpp"
#include "machine.hpp"
#include "runner.hpp"
#include "selection.hpp"
#include "supervisor.hpp"
#include "revision.hpp"
#include "version.hpp"

namespace primbench {
namespace {

constexpr double kMaxTimeout = 7 * 24 * 3600.0;
// The stopping rule's default target, within --rse-max-time's default 0.25 s a benchmark: why it
// is on by default, and what it costs, is in docs/measurement.md (Run to run).
constexpr double kDefaultRse = 0.01;

std::string joined(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

// An error already printed by a child process.
struct Reported {};

// True in a rank of an MPI job a user launched: exit() there ends the rank with kIncomplete.
bool g_in_job = false;

// exit() and MPI_Abort() in a worker are never primbench's (main ends with _exit, and primbench
// never aborts): an implementation called it, or a library it uses, from any thread, while its
// benchmark may still be running. The journal is sealed first: the main thread, still going,
// wrote "done" and the plan's "finished" while exit() ran the atexit handlers, and the
// supervisor believed a run that an exit(0) had cut short (7 times in 10, 2026-12-06; 14 in 20
// with a handler registered by atexit() at each benchmark's start, which ran after the handlers
// of the statics made since).
// Said first, with write(2) (stdio's lock may be the main thread's, which then ends the process
// with _exit): an exit() that races the worker's end is still its last benchmark's failure.
// The line goes out before the process ends, and is left in a pipe for at most two seconds: an
// MPI launcher that is told of the abort before it has read the aborting rank's stderr may never
// read it (MPICH's Hydra lost the whole of rank 1's stderr, once in 30 runs beside 6 busy
// processes, and once in CI, 2026-12-06). Waiting until the pipe is empty puts the line ahead of
// the abort in what the launcher hears.
void say_before_the_end(const std::string& said) {
  [[maybe_unused]] ssize_t w = ::write(2, said.data(), said.size());
  Journal::seal();
  struct stat st {};
  if (::fstat(2, &st) != 0 || !S_ISFIFO(st.st_mode)) return;
  for (int waited_ms = 0, unread = 0; waited_ms < 2000; ++waited_ms) {
    if (::ioctl(2, FIONREAD, &unread) != 0 || unread == 0) break;
    ::usleep(1000);
  }
}

void ended_in_worker(const char* call, int status) {
  say_before_the_end(fmt::format("{}{} was called by the implementation or a library it uses, not by primbench\n",
                                 kWorkerSays, fmt::format(fmt::runtime(call), status)));
}
// The same in a rank of an MPI job a user launched, where no supervisor is told: the rank ends
// with kIncomplete, which its launcher reports (an exit(0) on every rank ended the job with
// status 0 and no results file; an MPI_Abort(…, 0) did too).
void ended_in_job(const char* call, int status) {
  say_before_the_end(fmt::format("primbench: error: rank {}: {} was called during the run by an implementation or a "
                                 "library it uses, not by primbench: the run is incomplete (run the same command with "
                                 "--resume)\n", world().rank(), fmt::format(fmt::runtime(call), status)));
}

// Loads a plugin and checks what it registered: at least one implementation, every name
// `backend.algorithm` in [a-z0-9_], none already taken. Returns their names.
std::vector<std::string> load_plugin(const std::string& path) {
  static std::set<std::string> loaded;
  Registry& reg = registry();
  const std::size_t before = reg.implementations().size();
  if (!std::ifstream(path)) throw UsageError("plugin '" + path + "' does not exist or cannot be read");
  std::error_code ec;
  const std::string canonical = std::filesystem::canonical(path, ec).string();
  if (!loaded.insert(ec ? path : canonical).second)
    throw UsageError("plugin '" + path + "' is given twice (each --plugin must be a different library)");
  // By its canonical path: a name without a slash is otherwise looked up in the library path,
  // not where it was found.
  void* handle = ::dlopen((ec ? path : canonical).c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    std::string why = ::dlerror();
    why = why.substr(0, why.find('\n'));
    throw UsageError("cannot load plugin '" + path + "': " + why + " (expected a shared library built against primbench/primbench.hpp)");
  }
  const auto& impls = reg.implementations();
  if (impls.size() == before)
    throw UsageError("plugin '" + path + "' registered no implementation (expected PRIMBENCH_REGISTER in it; or it is already loaded under another name)");
  for (std::size_t i = before; i < impls.size(); ++i) {
    const std::string& n = impls[i].name;
    if (!valid_name(n))
      throw UsageError("plugin '" + path + "' registers '" + n + "': names must be backend.algorithm, each part of a-z, 0-9 and _");
    for (std::size_t k = 0; k < i; ++k)
      if (impls[k].name == n) throw UsageError("plugin '" + path + "' registers '" + n + "', which is already registered");
  }
  plugin_loaded(path, handle);
  std::vector<std::string> names;
  for (std::size_t i = before; i < impls.size(); ++i) names.push_back(impls[i].name);
  return names;
}

// A plugin's static initialisers run in a child first: one that throws or crashes is a clear
// error here, not the end of the supervisor.
void try_plugins(const std::vector<std::string>& plugins) {
  int ok[2], errs[2];
  if (::pipe(ok) != 0 || ::pipe(errs) != 0) return;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ok[0]), ::close(errs[0]);
    ::dup2(errs[1], 2);
    std::size_t loading = 0;
    try {
      for (; loading < plugins.size(); ++loading) {
        [[maybe_unused]] ssize_t w = ::write(ok[1], "L", 1);  // one per plugin started
        load_plugin(plugins[loading]);
      }
    } catch (const UsageError& e) {
      std::fprintf(stderr, "primbench: error: %s\n", e.what());
      ::_exit(kUsage);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "primbench: error: plugin '%s' threw from a static initialiser while loading: %s\n",
                   plugins[loading].c_str(), e.what());
      ::_exit(kUsage);
    }
    [[maybe_unused]] ssize_t w = ::write(ok[1], "Y", 1);  // loaded: not merely exited
    ::_exit(kOk);
  }
  ::close(ok[1]), ::close(errs[1]);
  std::string progress, said;
  char buf[4096];
  for (ssize_t k; (k = ::read(ok[0], buf, sizeof buf)) > 0;) progress.append(buf, static_cast<std::size_t>(k));
  for (ssize_t k; (k = ::read(errs[0], buf, sizeof buf)) > 0;) said.append(buf, static_cast<std::size_t>(k));
  ::close(ok[0]), ::close(errs[0]);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return;
  if (!progress.empty() && progress.back() == 'Y') return;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kUsage && said.rfind("primbench: error: ", 0) == 0) {
    std::fputs(said.substr(0, said.find('\n') + 1).c_str(), stderr);  // its one line
    throw Reported{};
  }
  const std::string& culprit = plugins[std::min(plugins.size(), std::max<std::size_t>(progress.size(), 1)) - 1];
  const std::string how = WIFSIGNALED(status) ? fmt::format("was killed by {}", ::strsignal(WTERMSIG(status)))
                                              : fmt::format("exited with status {}", WEXITSTATUS(status));
  std::replace(said.begin(), said.end(), '\n', ' ');
  while (!said.empty() && said.back() == ' ') said.pop_back();
  throw UsageError(fmt::format("loading plugin '{}' {}: a static initialiser in it throws, crashes or exits{}", culprit, how,
                               said.empty() ? "" : fmt::format(" (it said: {})", said.substr(0, 300))));
}

// Every backend's probe runs in a child process, one after another, before this process asks
// any backend anything: a probe that crashes, exits or hangs (a plugin's, or CUDA's under a
// broken driver) makes its backend unavailable with the reason, where it ended primbench itself
// (a probe calling exit(0) ended `primbench run` with status 0, no line and no results file).
// The children's answers are kept, so no probe runs here or twice. Returns why each probe that
// failed did, by backend, for the caller to record and tell the workers, which must not run it.
std::map<std::string, std::string> probe_in_children(double timeout) {
  Registry& reg = registry();
  const std::vector<std::string> names = reg.backend_names();
  std::map<std::string, std::string> failed;
  for (std::size_t next = 0; next < names.size();) {
    int answers[2];
    if (::pipe(answers) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {  // one JSON line a backend, in order, each written whole
      ::setpgid(0, 0);  // a group of its own: a hung probe goes with whatever it started
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // and with primbench, interrupted meanwhile
      ::close(answers[0]);
      for (std::size_t i = next; i < names.size(); ++i) {
        const Availability& a = reg.availability(names[i]);
        const std::string line = nlohmann::json{{"available", a.available}, {"reason", a.reason}, {"version", a.version},
                                                {"device_copy_GBps", a.device_copy_GBps},
                                                {"device_free_bytes", a.device_free_bytes}}.dump() + "\n";
        for (std::size_t at = 0; at < line.size();) {
          const ssize_t k = ::write(answers[1], line.data() + at, line.size() - at);
          if (k <= 0) ::_exit(kUsage);
          at += static_cast<std::size_t>(k);
        }
      }
      ::_exit(kOk);
    }
    ::close(answers[1]);
    std::string got;
    char buf[4096];
    bool hung = false;
    // Each probe gets `timeout` seconds; done once every backend has answered (a process the
    // probe left behind may hold the pipe open).
    for (double since = now_seconds(); next < names.size();) {
      pollfd fd = {answers[0], POLLIN, 0};
      const int ready = ::poll(&fd, 1, 100);
      if (ready < 0 && errno != EINTR) break;
      if (ready > 0) {
        const ssize_t k = ::read(answers[0], buf, sizeof buf);
        if (k <= 0) break;  // the child is done, or gone
        got.append(buf, static_cast<std::size_t>(k));
        for (std::size_t nl; (nl = got.find('\n')) != std::string::npos; got.erase(0, nl + 1), ++next, since = now_seconds()) {
          const nlohmann::json j = nlohmann::json::parse(got.substr(0, nl), nullptr, false);
          Availability a;
          if (j.is_object()) {
            a = {j.value("available", false), j.value("reason", std::string()), j.value("version", std::string()),
                 j.value("device_copy_GBps", 0.0), j.value("device_free_bytes", std::size_t{0})};
          } else {
            a = {false, "its probe's answer was not readable", ""};
          }
          reg.remember(names[next], std::move(a));
        }
      } else if (now_seconds() - since > timeout) {
        hung = true;
        break;
      }
    }
    ::close(answers[0]);
    if (hung) ::kill(-pid, SIGKILL), ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (next >= names.size()) break;
    failed[names[next++]] = hung                  ? fmt::format("its probe did not return within {:g} s (--timeout)", timeout)
                            : WIFSIGNALED(status) ? fmt::format("its probe crashed ({})", ::strsignal(WTERMSIG(status)))
                                                  : fmt::format("its probe exited with status {}", WEXITSTATUS(status));
  }
  return failed;
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

std::string gib(double bytes) { return fmt::format("{:.2f} GiB", bytes / (1u << 30)); }

// Refuses, before anything is allocated, a problem that would not fit in memory.
// Device backends are also held to their free device memory: buffers and guards on the device,
// the validator's staging copy on the host.
constexpr std::size_t kProcessBytes = std::size_t{24} << 20;

void check_memory(const std::vector<Planned>& plan) {
  const std::size_t avail = available_memory();
  for (const Planned& p : plan) {
    const Backend* backend = registry().backend(p.impl->backend());
    if (backend && p.problem.count > backend->max_count)
      throw UsageError(fmt::format("{}: count {} is more than one {} call takes ({} elements per rank)", p.name,
                                   p.problem.count, backend->name, backend->max_count));
    std::size_t need = footprint(p);
    // A process per rank costs its own memory before any buffer (an Open MPI rank: 18 MiB
    // resident at P=4 here, growing with P), and the launcher as much again: 24 MiB each.
    if (backend && backend->process_per_rank()) need += (static_cast<std::size_t>(p.problem.ranks) + 1) * kProcessBytes;
    if (need > avail / 10 * 9)
      throw UsageError(fmt::format("{} needs about {} but only {} of memory is available (use a smaller --count or --ranks)",
                                   p.name, gib(need), gib(avail)));
    // On the device: the buffers, and the reference beside them as much again (a copy of the
    // memory traffic, which is at most the buffers').
    const std::size_t device_free = registry().availability(p.impl->backend()).device_free_bytes;
    if (device_free > 0 && need / 3 * 2 > device_free / 10 * 9)
      throw UsageError(fmt::format("{} needs about {} of device memory but only {} is free (use a smaller --count or --ranks)",
                                   p.name, gib(need / 3 * 2), gib(device_free)));
  }
}

std::set<std::string> names_in(const std::string& path) {
  std::ifstream f(path);
  std::set<std::string> names;
  for (std::string line; std::getline(f, line);) names.insert(line);
  return names;
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

int list() {
  Registry& reg = registry();
  fmt::print("{:<22} {:<10} {}\n", "implementation", "backend", "availability");
  for (const auto& impl : reg.implementations()) {
    const Availability& a = reg.availability(impl.backend());
    std::vector<std::string_view> prims;
    for (Primitive p : impl.primitives) prims.push_back(name(p));
    const std::string state = !a.available                ? "unavailable: " + a.reason
                              : !impl.unavailable.empty() ? "unavailable: " + impl.unavailable
                              : a.version.empty()         ? std::string("available")
                                                  : fmt::format("available ({})", a.version);
    fmt::print("{:<22} {:<10} {}; implements {}\n", impl.name, impl.backend(), state, fmt::join(prims, ","));
  }
  for (const std::string& b : reg.backend_names()) {
    bool has_impl = false;
    for (const auto& impl : reg.implementations()) has_impl |= impl.backend() == b;
    if (!has_impl) fmt::print("{:<22} {:<10} unavailable: {}\n", b + ".*", b, reg.availability(b).reason);
  }
  return kOk;
}

// Numbers that cannot work are refused before anything runs.
void check_numbers(const RunOptions& opts) {
  if (!(opts.rse >= 0 && opts.rse < 1)) throw UsageError("--rse must be a fraction from 0 (off) to below 1, e.g. 0.01");
  if (!(opts.check_budget >= 0 && opts.check_budget <= 1))  // NaN passes CLI11's range
    throw UsageError("--check-budget must be a fraction from 0 to 1, e.g. 0.05");
  if (!(opts.rse_max_time > 0 && std::isfinite(opts.rse_max_time))) throw UsageError("--rse-max-time must be a positive number of seconds");
  if (opts.rse > 0 && opts.repetitions < 2) throw UsageError("--rse needs a pilot of at least 2 --repetitions");
  if (!(opts.timeout > 0 && opts.timeout <= kMaxTimeout))
    throw UsageError(fmt::format("--timeout must be a number of seconds above 0 and at most {:g} (a week)", kMaxTimeout));
  if (!(opts.min_time > 0 && std::isfinite(opts.min_time))) throw UsageError("--min-time must be a positive number of seconds");
  if (!(opts.warmup >= 0 && std::isfinite(opts.warmup))) throw UsageError("--warmup must be a non-negative number of seconds");
  if (const double least = opts.warmup + opts.min_time * opts.repetitions; opts.timing && least >= opts.timeout)
    throw UsageError(fmt::format("--warmup {:g} + --min-time {:g} x --repetitions {} takes at least {:g} s, more than --timeout {:g} "
                                 "allows one benchmark (raise --timeout or lower the others)",
                                 opts.warmup, opts.min_time, opts.repetitions, least, opts.timeout));
  if (const double most = opts.warmup + opts.min_time * opts.repetitions + opts.rse_max_time;
      opts.timing && opts.rse > 0 && most >= opts.timeout)
    throw UsageError(fmt::format("--rse (on by default) may take {:g} s a benchmark (--warmup, the pilot's repetitions and "
                                 "--rse-max-time {:g}), more than --timeout {:g} allows (raise --timeout, lower --rse-max-time "
                                 "or give --rse 0)",
                                 most, opts.rse_max_time, opts.timeout));
}

std::uint64_t parse_seed(const std::string& seed) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(seed.data(), seed.data() + seed.size(), v);
  if (ec != std::errc() || end != seed.data() + seed.size())
    throw UsageError("--seed '" + seed + "' is not a whole number from 0 to 18446744073709551615");
  return v;
}

// --ceilings READ,COPY[,CACHE] into the host ceilings given.
void parse_ceilings(const std::string& ceilings, Ceilings& given) {
  const auto parts = split(ceilings, ',');
  auto number = [](const std::string& t, double* v) {
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *v);
    return ec == std::errc() && end == t.data() + t.size() && *v > 0 && std::isfinite(*v);
  };
  if ((parts.size() != 2 && parts.size() != 3) || !number(parts[0], &given.host_read_GBps) ||
      !number(parts[1], &given.host_copy_GBps) || (parts.size() == 3 && !number(parts[2], &given.host_cache_copy_GBps)))
    throw UsageError("malformed --ceilings '" + ceilings + "' (accepted: READ,COPY[,CACHE] in GB/s, e.g. 20,10)");
}

// The benchmarks the selections name, each once, with why others are left out in `unavailable`
// (sorted, each once).
std::vector<Planned> plan_all(std::vector<Selection> selections, bool ranks_given, std::vector<std::string>& unavailable) {
  // Inside an MPI job of any size (a user's mpirun or srun, or the ranks a supervisor
  // launched) every process runs the same plan: process-per-rank problems with the job's rank
  // count, nothing shared-memory.
  // An MPI world knows its hosts, even a world of one process.
  const int job = world().size();
  const bool in_job = job > 1 || !world().hosts().empty();
  std::vector<Planned> planned;
  std::set<std::string> names;
  for (Selection& part : selections) {
    if (in_job && !ranks_given) part.ranks = std::to_string(job);
    for (Planned& p : plan(part, registry(), &unavailable))
      if (names.insert(p.name).second) planned.push_back(std::move(p));
  }
  std::sort(unavailable.begin(), unavailable.end());
  unavailable.erase(std::unique(unavailable.begin(), unavailable.end()), unavailable.end());
  if (in_job) {
    std::set<std::string> skipped;
    std::erase_if(planned, [&](const Planned& p) {
      const Backend* b = registry().backend(p.impl->backend());
      if (!b || !b->process_per_rank())
        return skipped.insert(p.impl->name + ": skipped: shared-memory implementations do not run inside an MPI job").second, true;
      if (p.problem.ranks != job)
        return skipped.insert(fmt::format("ranks:{}: skipped: this MPI job has {} processes", p.problem.ranks, job)).second, true;
      return false;
    });
    unavailable.insert(unavailable.end(), skipped.begin(), skipped.end());
  }
  return planned;
}

// CLI11 validators with primbench's one-line messages (CLI11 prefixes the option's name).
CLI::Validator one_of(std::vector<std::string> accepted) {
  return CLI::Validator(
      [accepted](std::string& v) {
        if (std::find(accepted.begin(), accepted.end(), v) != accepted.end()) return std::string();
        return fmt::format("unknown '{}' (accepted: {})", v, fmt::join(accepted, ", "));
      },
      "");
}
CLI::Validator whole_number(long long lo, long long hi, std::string why = "") {
  return CLI::Validator(
      [=](std::string& v) {
        long long n = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec == std::errc() && end == v.data() + v.size() && n >= lo && n <= hi) return std::string();
        return fmt::format("must be {} to {}{}", lo, hi, why);
      },
      "");
}

// The Python tools primbench runs for a command, or null.
const char* python_tool(const std::string& cmd) {
  if (cmd == "report") return "reports/report.py";
  if (cmd == "compare") return "ci/compare.py";
  if (cmd == "history") return "ci/history.py";
  if (cmd == "export") return "reports/export.py";
  return nullptr;
}

// The command line: what CLI11's options write into, and the subcommands.
struct Args {
  std::vector<std::string> plugins;
  Selection sel;
  RunOptions opts;
  std::string check = "exact", cache = "hot", ceilings, seed;
  std::string worker_journal, worker_only;
  std::vector<std::string> failed_probes;  // backend=reason, as the supervisor tells its workers
  int supervisor_pid = 0;
  CLI::App* list_cmd = nullptr;
  CLI::App* run_cmd = nullptr;
  CLI::App* validate_cmd = nullptr;
};

void add_common(CLI::App* sub, Args& a) {
  sub->add_option("--plugin", a.plugins, "shared library registering more implementations (repeatable)");
}

void add_selectors(CLI::App* sub, Args& a) {
  add_common(sub, a);
  sub->add_option("--impl", a.sel.impls, "implementation globs, comma-separated (e.g. 'thread.*,seq.ref')");
  sub->add_option("--primitive", a.sel.primitives, all_primitives(", ") + " (comma-separated; default: all)");
  sub->add_option("--dtype", a.sel.dtypes, "i32, i64, f32, f64 (default f32)");
  sub->add_option("--op", a.sel.ops, fmt::format("sum, prod, min, max for {} (default sum)", primitives_in_words(true)));
  sub->add_option("--ranks", a.sel.ranks, "rank counts: list or range, e.g. 2,4 or 1:8:x2 (default 1, 2, 4, ... up to the CPUs this process may use)");
  sub->add_option("--count", a.sel.counts, "elements per rank: list or range with K/M/G, e.g. 1:64M:x4 (default 1:16M:x8)");
  sub->add_option("--root", a.sel.roots,
                  "root ranks, 'mid', 'last' or 'rotate' (root = iteration mod P, every root validated) (run's default 0)");
  sub->add_option("--validate", a.opts.validate_rounds, "validation rounds before timing, fresh seed each (default 3)")
      ->check(whole_number(1, 1000, " rounds: results are never reported unvalidated"));
  sub->add_option("--check", a.check, "exact (bit-exact by construction) or random (rigorous error bound); validate: both (default)");
  sub->add_option("--seed", a.seed, "first validation seed, 0 to 2^64-1 (default 1)");
  sub->add_flag("--quiet", a.opts.quiet, "no progress or table");
  sub->add_option("--timeout", a.opts.timeout, "seconds one benchmark may take before the run ends (default 300)");
  // Set by the supervisor in the workers and ranks it starts: run the benchmarks named in
  // --only here, each event appended to the journal.
  sub->add_option("--worker", a.worker_journal)->group("");
  sub->add_option("--only", a.worker_only)->group("");
  sub->add_option("--backend-unavailable", a.failed_probes)->group("");  // backend=reason: not probed here
  sub->add_option("--supervisor-pid", a.supervisor_pid)->group("");  // its CPU time is the run's own (machine.hpp)
  sub->add_option("--round-trip-ns", a.opts.ceilings.host_round_trip_ns)->group("");  // the supervisor's ping-pong, for its workers
}

void add_timing_options(CLI::App* run_cmd, Args& a) {
  RunOptions& opts = a.opts;
  run_cmd->add_option("--repetitions", opts.repetitions,
                      "repetitions for statistics, the stopping rule's pilot (default 3); given without --rse, exactly that many")
      ->check(whole_number(1, 100000));
  run_cmd->add_option("--min-time", opts.min_time, "wall seconds per repetition; the warm-up sizes the iteration count to fit (default 0.02)");
  run_cmd->add_option("--warmup", opts.warmup, "wall seconds of untimed warm-up runs, at least one (default 0.01)");
  run_cmd->add_option("--cache", a.cache, "hot (default) or cold (caches flushed before every iteration)")->check(one_of({"hot", "cold"}));
  run_cmd->add_option("--out", opts.out, "JSON results file (default primbench.json)");
  run_cmd->add_flag("--hugepages", opts.huge_pages,
                    "host buffers of 2 MiB or more aligned to huge pages and madvise(MADV_HUGEPAGE)d (for THP's madvise mode)");
  run_cmd->add_flag("--aggregates-only", opts.aggregates_only,
                    "write only the mean/median/stddev/cv entries of a benchmark with repetitions (Google Benchmark's "
                    "--benchmark_report_aggregates_only); errors are always written");
  run_cmd->add_flag("--resume", opts.resume, "keep the passing results already in --out; run only the failed and missing");
  run_cmd->add_option("--ceilings", a.ceilings, "READ,COPY[,CACHE] host ceilings in GB/s instead of measuring them");
  run_cmd->add_option("--check-iterations", opts.check_iterations,
                      "timed iterations spot-checked per benchmark, one from each of that many stretches of the loop (every one of a shorter "
                      "loop), besides the last two checked in full (default 64; 0: the last only)")
      ->check(whole_number(0, 100000));
  run_cmd->add_option("--check-budget", opts.check_budget,
                      "fraction of the run's time the checks of the timed loops may take (default 0.05; up to 1): "
                      "more checks a large count where the budget, not --check-iterations, stops them")
      ->check(CLI::Range(0.0, 1.0));
  run_cmd->add_option("--rse", opts.rse,
                      "repeat until the median's relative standard error is at most this; --repetitions is then the pilot "
                      "(default 0.01 unless --repetitions is given alone; 0: fixed repetitions)");
  run_cmd->add_option("--rse-max-time", opts.rse_max_time,
                      "wall seconds per benchmark the repetitions after the pilot may take (default 0.25)");
}

void add_commands(CLI::App& app, Args& a) {
  app.set_version_flag("--version", std::string("primbench ") + kVersion + " (" + kGitRevision + ")");
  app.require_subcommand(1);
  app.footer("Also: primbench report | export | compare | history ARGS (the Python tools in reports/ and ci/; "
             "each takes --help).");
  a.list_cmd = app.add_subcommand("list", "every implementation and backend, with availability");
  add_common(a.list_cmd, a);
  a.run_cmd = app.add_subcommand("run", "validate, then time, and write Google Benchmark JSON");
  add_selectors(a.run_cmd, a);
  add_timing_options(a.run_cmd, a);
  a.validate_cmd = app.add_subcommand("validate", "validation only; exit 1 on any failure");
  add_selectors(a.validate_cmd, a);
  a.run_cmd->get_option("--check")->check(one_of({"exact", "random"}));
  a.validate_cmd->get_option("--check")->check(one_of({"exact", "random", "both"}));
}

// A selector given empty (`--impl ''`) is an error, not the default.
void check_selectors_given(const Args& a) {
  for (CLI::App* sub : {a.run_cmd, a.validate_cmd})
    for (const char* flag : {"--impl", "--primitive", "--dtype", "--op", "--ranks", "--count", "--root"})
      if (sub->parsed() && sub->count(flag) > 0 && sub->get_option(flag)->as<std::string>().empty())
        throw UsageError(std::string("empty ") + flag + " (see primbench " + sub->get_name() + " --help for what is accepted)");
}

// The run's options from the parsed command line, checked; the selections to plan.
std::vector<Selection> settle(Args& a, bool worker, int argc, char** argv) {
  RunOptions& opts = a.opts;
  opts.command_line = joined(argc, argv);
  // The options the supervisor gives the workers it starts, and only them: given to a run of
  // one's own they were taken (a --round-trip-ns of 1e300 recorded in the context as measured).
  const CLI::App* sub = a.run_cmd->parsed() ? a.run_cmd : a.validate_cmd;
  for (const char* internal : {"--worker", "--only", "--supervisor-pid", "--backend-unavailable", "--round-trip-ns"})
    if (sub->count(internal) && !(worker && sub->count("--only") && a.supervisor_pid > 0))
      throw UsageError(fmt::format("{} is primbench's own option for the workers it starts (with --worker, --only and "
                                   "--supervisor-pid), not one to give", internal));
  set_huge_pages(opts.huge_pages);
  opts.plugins = a.plugins;
  opts.timing = a.run_cmd->parsed();
  if (opts.timing && a.run_cmd->count("--out") && opts.out.empty()) throw UsageError("empty --out (expected a results file name)");
  if (opts.timing && opts.out.empty()) opts.out = "primbench.json";
  if (!opts.timing && !a.validate_cmd->count("--check")) a.check = "both";
  opts.mode = a.check == "random" ? validate::Mode::random : validate::Mode::exact;
  opts.both_modes = a.check == "both";
  // validate's defaults are a conformance sweep; run's a timing suite (README).
  std::vector<Selection> selections = {a.sel};
  if (!opts.timing && !worker) {
    const CLI::App* v = a.validate_cmd;
    selections = conformance(a.sel, !v->count("--dtype"), !v->count("--op"), !v->count("--ranks"), !v->count("--count"),
                             !v->count("--root"));
  }
  opts.cold = a.cache == "cold";
  // The stopping rule is on by default; --repetitions alone asks for exactly that many, as
  // Google Benchmark's does. (A worker is always told both.)
  if (opts.timing && !a.run_cmd->count("--rse") && !a.run_cmd->count("--repetitions")) opts.rse = kDefaultRse;
  check_numbers(opts);
  if (!a.seed.empty()) opts.seed = parse_seed(a.seed);
  if (!a.ceilings.empty()) parse_ceilings(a.ceilings, opts.ceilings);
  return selections;
}

int main_impl(int argc, char** argv) {
  try {
    self_executable();  // its path now, before anything could replace it
  } catch (const UsageError&) {
    // No /proc here: only `run` and `validate` need it, and say so when they ask again.
  }
  if (argc >= 2)
    if (const char* script = python_tool(argv[1])) return exec_python(script, argc, argv);

  CLI::App app{fmt::format("primbench: validated benchmarks of {} across backends", primitives_in_words())};
  Args a;
  add_commands(app, a);
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

  const bool worker = !a.worker_journal.empty();
  if (worker) ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a rank whose launcher died goes with it
  if (worker) set_supervisor(a.supervisor_pid);
  if (!worker && !a.plugins.empty()) try_plugins(a.plugins);
  for (const auto& p : a.plugins)
    for (const std::string& impl : load_plugin(p)) a.opts.plugin_of[impl] = p;
  // Not in a job a user launched: MPI is initialised there, and a child of a rank must not run.
  const bool in_job = world().size() > 1 || !world().hosts().empty();
  g_in_job = in_job && !worker;
  if (worker || in_job) on_ended_by(worker ? ended_in_worker : ended_in_job);
  for (const std::string& u : a.failed_probes)
    if (const std::size_t eq = u.find('='); eq != std::string::npos) a.opts.failed_probes[u.substr(0, eq)] = u.substr(eq + 1);
  if (!worker && !in_job) a.opts.failed_probes = probe_in_children(a.opts.timeout);
  for (const auto& [backend, why] : a.opts.failed_probes) registry().remember(backend, {false, why, ""});
  if (a.list_cmd->parsed()) return list();
  check_selectors_given(a);
  const std::vector<Selection> selections = settle(a, worker, argc, argv);
  const RunOptions& opts = a.opts;

  std::vector<std::string> unavailable;
  const bool ranks_given = (opts.timing ? a.run_cmd : a.validate_cmd)->count("--ranks") > 0;
  // The supervisor plans a backend whose probe failed as if it could run, so that each of its
  // selected benchmarks gets an entry saying why it did not (supervisor.cpp); its workers,
  // told, plan none of them.
  for (const auto& [backend, why] : opts.failed_probes)
    if (!worker) registry().remember(backend, {true, "", ""});
  std::vector<Planned> planned = plan_all(selections, ranks_given, unavailable);
  for (const auto& [backend, why] : opts.failed_probes) registry().remember(backend, {false, why, ""});
  if (worker) {
    const std::set<std::string> only = names_in(a.worker_only);  // closed before anything runs
    std::erase_if(planned, [&](const Planned& p) { return !only.count(p.name); });
    return run_worker(planned, opts, a.worker_journal);
  }
  if (world().rank() == 0 && !opts.quiet)
    for (const auto& u : unavailable) std::fprintf(stderr, "skipping %s\n", u.c_str());
  if (planned.empty())
    throw UsageError("nothing to run: every selected implementation is unavailable here" +
                     (unavailable.empty() ? std::string() : " (" + unavailable.front() + ")"));
  check_memory(planned);
  return in_job ? run_in_mpi_job(planned, opts) : supervise(planned, opts);
}

}  // namespace
}  // namespace primbench

// exit() for every caller in primbench's processes, plugins included: primbench exports its
// symbols (for plugins), so this definition comes before the C library's. It says so first
// (ended_by), before any atexit handler or static destructor, then does the C library's; in a
// rank of a user's MPI job it ends the rank with kIncomplete instead.
extern "C" [[noreturn]] void exit(int status) noexcept {
  primbench::ended_by("exit({})", status);
  if (primbench::g_in_job) ::_exit(primbench::kIncomplete);
  static const auto real = reinterpret_cast<void (*)(int)>(::dlsym(RTLD_NEXT, "exit"));
  real(status);
  __builtin_unreachable();
}

int main(int argc, char** argv) {
  // A closed stdin, stdout or stderr would hand its number to the next file opened (the
  // journal), and the console would write into it.
  for (int fd = 0; fd <= 2; ++fd)
    if (::fcntl(fd, F_GETFD) == -1) ::open("/dev/null", O_RDWR);
  int status = primbench::kUsage;
  try {
    status = primbench::main_impl(argc, argv);
  } catch (const primbench::Reported&) {
  } catch (const primbench::SharedUsageError& e) {
    if (primbench::world().rank() == 0) std::fprintf(stderr, "primbench: error: %s\n", e.what());
  } catch (const primbench::UsageError& e) {
    std::fprintf(stderr, "primbench: error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "primbench: error: %s\n", e.what());
  }
  // Ended here, not by returning: exit() ran the plugins' static destructors and atexit
  // handlers inside primbench, where one that called _exit(0) made a failed run's status 0, one
  // that crashed made a passing run's 139, and one that hung kept primbench from ending.
  std::fflush(nullptr);
  primbench::world().finalize();
#if defined(__SANITIZE_ADDRESS__)
  __lsan_do_leak_check();  // what exit() would have run under AddressSanitizer
#endif
  ::_exit(status);
}
