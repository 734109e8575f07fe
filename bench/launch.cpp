// Process-per-rank implementations under the system's MPI launcher: one launch per rank count
// (and one more per rank count for the mpi4py peer), each writing its own JSON, merged here.
// Environment: PRIMBENCH_MPIRUN (launcher, default mpirun), PRIMBENCH_MPIRUN_ARGS (extra
// launcher arguments, split on spaces, e.g. "--hostfile hosts"), PRIMBENCH_PYTHON (default
// /usr/bin/python3).
#include "launch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "version.hpp"

extern char** environ;

namespace primbench {
namespace {

using nlohmann::json;

std::string env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

std::string joined(const std::vector<std::string>& items, const std::string& sep = ",") {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : sep) + i;
  return s;
}

// One launch: the problems of one rank count, for primbench itself or for the mpi4py peer.
struct Group {
  int ranks;
  bool peer;
  std::vector<const Planned*> items;
};

// Distinct values in plan order.
template <class F> std::vector<std::string> distinct(const Group& g, F&& f) {
  std::vector<std::string> out;
  for (const Planned* p : g.items) {
    const std::string v = f(*p);
    if (!v.empty() && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

// The selectors that plan exactly this group's problems (a group is one rank count of a plan,
// itself a product of the selectors), and the run options, for the launched process.
std::vector<std::string> arguments(const Group& g, const RunOptions& o, const std::string& out) {
  auto reduce_op = [](const Planned& p) {
    return p.problem.primitive == Primitive::reduce ? std::string(name(p.problem.op)) : std::string();
  };
  std::vector<std::string> ops = distinct(g, reduce_op);
  std::vector<std::string> a = {
      "--impl", joined(distinct(g, [](const Planned& p) { return p.impl->name; })),
      "--primitive", joined(distinct(g, [](const Planned& p) { return std::string(name(p.problem.primitive)); })),
      "--dtype", joined(distinct(g, [](const Planned& p) { return std::string(name(p.problem.dtype)); })),
      "--op", ops.empty() ? "sum" : joined(ops),
      "--ranks", std::to_string(g.ranks),
      "--count", joined(distinct(g, [](const Planned& p) { return std::to_string(p.problem.count); })),
      "--root", joined(distinct(g, [](const Planned& p) { return std::to_string(p.problem.root); })),
      "--validate", std::to_string(o.validate_rounds),
      "--check", o.mode == validate::Mode::exact ? "exact" : "random",
      "--seed", std::to_string(o.seed),
      "--timeout", number(o.timeout)};
  if (o.timing) {
    a.insert(a.end(), {"--repetitions", std::to_string(o.repetitions), "--min-time", number(o.min_time), "--warmup", number(o.warmup),
                       "--cache", o.cold ? "cold" : "hot"});
    if (o.read_GBps > 0) a.insert(a.end(), {"--ceilings", number(o.read_GBps) + "," + number(o.copy_GBps)});
  }
  // Timing runs report through JSON; validation runs print their rows, which are passed on.
  if (o.timing) a.insert(a.end(), {"--out", out, "--quiet"});
  if (g.peer && !o.timing) a.push_back("--validate-only");
  if (!g.peer) {
    a.push_back("--launched");
    for (const auto& p : o.plugins) a.insert(a.end(), {"--plugin", p});
  }
  return a;
}

std::string self_executable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw UsageError("cannot find this executable (/proc/self/exe)");
  return std::string(buf, static_cast<std::size_t>(n));
}

// The launcher's command line for P ranks of `program`.
std::vector<std::string> launcher(int ranks, const std::vector<std::string>& program) {
  std::vector<std::string> cmd = {env("PRIMBENCH_MPIRUN", "mpirun")};
  if (registry().availability("mpi").version.rfind("Open MPI", 0) == 0) {
    cmd.push_back("--oversubscribe");  // more ranks than cores works, as on a laptop
    if (::geteuid() == 0) cmd.push_back("--allow-run-as-root");
  }
  std::istringstream extra(env("PRIMBENCH_MPIRUN_ARGS", ""));
  for (std::string w; extra >> w;) cmd.push_back(w);
  cmd.insert(cmd.end(), {"-np", std::to_string(ranks)});
  cmd.insert(cmd.end(), program.begin(), program.end());
  return cmd;
}

// This process's environment without the variables of an MPI job it may itself belong to (a
// user's `mpirun -np 1 primbench run`), which would confuse the launcher it starts.
std::vector<std::string> child_environment() {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string v = *e;
    if (v.rfind("OMPI_", 0) == 0 && v.rfind("OMPI_MCA_", 0) != 0) continue;
    if (v.rfind("PMIX_", 0) == 0 || v.rfind("PMI_", 0) == 0) continue;
    out.push_back(v);
  }
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string shell_words(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    const bool plain = !a.empty() && a.find_first_of(" \t'\"*?$\\") == std::string::npos;
    s += (s.empty() ? "" : " ") + (plain ? a : "'" + a + "'");
  }
  return s;
}

json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) return nullptr;
  try {
    return json::parse(f);
  } catch (const std::exception&) {
    return nullptr;  // being rewritten, or cut short
  }
}

// Entry for a benchmark the launch never got to.
json missing_entry(const Planned& pl, const std::string& message) {
  const std::string run_name = pl.name + "/manual_time";
  json e = {{"name", run_name}, {"run_name", run_name}, {"run_type", "iteration"},
            {"repetitions", 1}, {"repetition_index", 0}, {"threads", 1},
            {"iterations", 0}, {"real_time", 0.0}, {"cpu_time", 0.0}, {"time_unit", "ns"},
            {"error_occurred", true}, {"error_message", message},
            {"primitive", std::string(name(pl.problem.primitive))}, {"impl", pl.impl->name},
            {"dtype", std::string(name(pl.problem.dtype))}, {"validation", "failed"}};
  if (pl.problem.primitive == Primitive::reduce) e["op"] = std::string(name(pl.problem.op));
  return e;
}

struct Outcome {
  int exit_status = -1;  // the launcher's; -1 when killed or not started
  std::string failure;   // why the launch ended abnormally ("" when it did not)
  json doc;              // the launched run's JSON, or null
};

// Starts the launcher and waits for it; reports progress; kills it when it makes no progress
// for longer than the per-benchmark timeout plus startup grace (the ranks' own watchdog should
// have ended a hung benchmark well before).
Outcome run_launch(std::vector<std::string> cmd, const std::string& out, const Group& g,
                   const RunOptions& opts, std::size_t done_before, std::size_t total) {
  Outcome r;
  std::vector<std::string> envs = child_environment();
  auto argv = c_strings(cmd);
  auto envp = c_strings(envs);
  // Validation only: the launched rows come through a pipe, each one a sign of progress.
  int rows[2] = {-1, -1};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!opts.timing && ::pipe(rows) == 0) {
    ::fcntl(rows[0], F_SETFL, O_NONBLOCK);
    ::fcntl(rows[0], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_adddup2(&fa, rows[1], 1);
    posix_spawn_file_actions_addclose(&fa, rows[1]);
  }
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rows[1] >= 0) ::close(rows[1]);
  auto forward = [&] {  // returns whether anything came
    bool any = false;
    char buf[4096];
    for (ssize_t k; rows[0] >= 0 && (k = ::read(rows[0], buf, sizeof buf)) > 0; any = true) {
      std::fwrite(buf, 1, static_cast<std::size_t>(k), stdout);
      std::fflush(stdout);
    }
    return any;
  };
  if (rc != 0) {
    if (rows[0] >= 0) ::close(rows[0]);
    r.failure = "cannot start the MPI launcher '" + cmd[0] + "': " + std::strerror(rc);
    return r;
  }
  const bool tty = ::isatty(2) != 0;
  const double start = now_seconds(), grace = 60;
  double last_progress = start;
  std::size_t done = 0;
  struct timespec seen{};
  int status = 0, killed = 0;
  double term_at = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    const double now = now_seconds();
    if (forward()) last_progress = now;
    struct stat st{};
    if (::stat(out.c_str(), &st) == 0 && (st.st_mtim.tv_sec != seen.tv_sec || st.st_mtim.tv_nsec != seen.tv_nsec)) {
      seen = st.st_mtim;
      last_progress = now;
      if (json d = read_json(out); d.is_object() && !d["benchmarks"].empty()) {
        std::set<std::string> names;
        for (const json& e : d["benchmarks"]) names.insert(e.value("run_name", e.value("name", "")));
        done = names.size();
        if (!opts.quiet) {
          std::fprintf(stderr, tty ? "\r\033[K[%zu/%zu, np=%d %zu/%zu, %.0f s] %s%s" : "[%zu/%zu, np=%d %zu/%zu, %.0f s] %s%s",
                       done_before + done, total, g.ranks, done, g.items.size(), now - start,
                       benchmark_name(d["benchmarks"].back().value("run_name", "")).c_str(), tty ? "" : "\n");
          std::fflush(stderr);
        }
      }
    }
    if (killed == 0 && now - last_progress > opts.timeout + grace) {
      r.failure = "the MPI launcher made no progress for " + std::to_string(static_cast<long>(now - last_progress)) +
                  " s (timeout " + number(opts.timeout) + " s per benchmark); killed";
      ::kill(pid, SIGTERM);
      killed = 1, term_at = now;
    } else if (killed == 1 && now - term_at > 10) {
      ::kill(pid, SIGKILL);
      killed = 2;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  forward();
  if (rows[0] >= 0) ::close(rows[0]);
  if (!opts.quiet && tty && opts.timing) std::fprintf(stderr, "\r\033[K");
  if (WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  else if (r.failure.empty() && WIFSIGNALED(status))
    r.failure = "the MPI launcher died of signal " + std::to_string(WTERMSIG(status));
  r.doc = read_json(out);
  if (r.failure.empty() && r.exit_status != kOk && r.exit_status != kValidationFailed && r.exit_status != kIncomplete)
    r.failure = "the MPI launcher exited with status " + std::to_string(r.exit_status);
  if (r.failure.empty() && r.exit_status == kIncomplete) r.failure = "the MPI job ended early (exit status 3)";
  return r;
}

std::string temp_path(const RunOptions& opts, const Group& g) {
  // Next to the output (often a shared file system, where rank 0 of a multi-host job writes).
  std::string dir = "/tmp";
  if (!opts.out.empty()) {
    const std::size_t slash = opts.out.rfind('/');
    dir = slash == std::string::npos ? "." : opts.out.substr(0, slash == 0 ? 1 : slash);
  }
  return dir + "/.primbench-" + std::to_string(::getpid()) + (g.peer ? "-mpi4py" : "-mpi") + "-np" +
         std::to_string(g.ranks) + ".json";
}

}  // namespace

Launched launch_ranks(const std::vector<Planned>& plan, const RunOptions& opts) {
  // One group per (rank count, primbench or peer), rank counts ascending, plan order within.
  std::map<std::pair<int, bool>, Group> groups;
  for (const Planned& p : plan) {
    const bool peer = p.impl->backend() == "mpi4py";
    Group& g = groups[{p.problem.ranks, peer}];
    g.ranks = p.problem.ranks, g.peer = peer;
    g.items.push_back(&p);
  }
  const std::string self = self_executable();
  const std::string python = env("PRIMBENCH_PYTHON", "/usr/bin/python3");
  const std::string peer_script = std::string(kSourceDir) + "/peers/mpi4py/peer.py";  // as the mpi4py probe checks

  Launched result;
  result.context = {{"mpi_library", registry().availability("mpi").version}, {"launches", json::array()}};
  std::size_t done = 0, family = 0;
  for (auto& [key, g] : groups) {
    const std::string out = temp_path(opts, g);
    std::vector<std::string> program = g.peer ? std::vector<std::string>{python, peer_script}
                                              : std::vector<std::string>{self, opts.timing ? "run" : "validate"};
    const std::vector<std::string> args = arguments(g, opts, out);
    program.insert(program.end(), args.begin(), args.end());
    const std::vector<std::string> cmd = launcher(g.ranks, program);
    if (!opts.quiet)
      std::fprintf(stderr, "launching %zu benchmark%s on %d MPI rank%s%s: %s\n", g.items.size(),
                   g.items.size() == 1 ? "" : "s", g.ranks, g.ranks == 1 ? "" : "s",
                   g.peer ? " (mpi4py peer)" : "", shell_words(cmd).c_str());
    std::remove(out.c_str());
    Outcome o = run_launch(cmd, out, g, opts, done, plan.size());
    std::remove(out.c_str());
    std::remove((out + ".tmp").c_str());

    if (!opts.timing) {  // validation only: the rows are printed; the exit status says the rest
      if (!o.failure.empty()) std::fprintf(stderr, "primbench: error: np=%d: %s\n", g.ranks, o.failure.c_str());
      result.status = std::max(result.status, o.exit_status == kOk || o.exit_status == kValidationFailed ? o.exit_status : int(kIncomplete));
      result.context["launches"].push_back({{"ranks", g.ranks}, {"peer", g.peer}, {"command", shell_words(cmd)}, {"exit_status", o.exit_status}});
      done += g.items.size();
      continue;
    }
    // Entries as the launched run wrote them; every planned benchmark it did not report is an
    // error naming why, so nothing silently disappears.
    // The launched run plans the product of the group's selectors, which can hold more than
    // the group (with --resume, benchmarks already measured): only the group's entries count.
    std::set<std::string> planned, reported;
    for (const Planned* p : g.items) planned.insert(p->name);
    std::map<std::string, std::size_t> families;
    if (o.doc.is_object()) {
      for (json& e : o.doc["benchmarks"]) {
        const std::string n = benchmark_name(e.value("run_name", e.value("name", "")));
        if (!planned.count(n)) continue;
        reported.insert(n);
        auto [it, fresh] = families.emplace(n, family + families.size());
        e["family_index"] = it->second;  // unique across launches
        if (e.value("error_occurred", false))
          result.status = std::max(result.status, e.value("error_message", "").find("validation failed") != std::string::npos
                                                        ? int(kValidationFailed) : int(kIncomplete));
        result.benchmarks.push_back(std::move(e));
      }
    }
    family += families.size();
    const std::string why = !o.failure.empty() ? o.failure
                            : o.doc.is_object() ? std::string("not reported by the MPI job")
                                                : "the MPI job wrote no results (exit status " + std::to_string(o.exit_status) + ")";
    for (const Planned* p : g.items) {
      if (reported.count(p->name)) continue;
      json e = missing_entry(*p, "not run: " + why);
      e["family_index"] = family++;
      e["per_family_instance_index"] = 0;
      result.benchmarks.push_back(std::move(e));
      result.status = std::max(result.status, int(kIncomplete));
    }
    if (!o.failure.empty()) {
      result.status = std::max(result.status, int(kIncomplete));
      std::fprintf(stderr, "primbench: error: np=%d%s: %s\n", g.ranks, g.peer ? " (mpi4py peer)" : "", o.failure.c_str());
    }
    if (o.exit_status == kValidationFailed) result.status = std::max(result.status, int(kValidationFailed));
    done += g.items.size();

    json launch = {{"ranks", g.ranks}, {"peer", g.peer}, {"command", shell_words(cmd)}, {"exit_status", o.exit_status}};
    if (!o.failure.empty()) launch["failure"] = o.failure;
    if (o.doc.is_object()) {
      const json& c = o.doc["context"];
      if (c.contains("primbench")) {
        launch["world_size"] = c["primbench"].value("world_size", 0);
        launch["hosts"] = c["primbench"].value("hosts", json::object());
      } else if (c.contains("mpi4py")) {
        launch["world_size"] = c["mpi4py"].value("world_size", 0);
        launch["hosts"] = c["mpi4py"].value("hosts", json::object());
        launch["mpi4py"] = c["mpi4py"].value("version", "");
      }
    }
    result.context["launches"].push_back(std::move(launch));
  }
  return result;
}

}  // namespace primbench
