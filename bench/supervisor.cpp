#include "supervisor.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "context.hpp"
#include "machine.hpp"
#include "journal.hpp"
#include "results_file.hpp"
#include "resume.hpp"

extern char** environ;

namespace primbench {
namespace {

using nlohmann::json;

// ---- stdout and stderr that never block the supervisor: a closed pipe (`| head`) or one
// nobody reads costs output, never the run or its results.

class Output {
 public:
  static Output& get() {
    static Output* o = new Output;  // never destroyed: its thread may be blocked in write(2)
    return *o;
  }
  void put(int fd, std::string text) {
    std::lock_guard l(m_);
    if (dead_[fd] || queued_ + text.size() > kMaxQueued) return;
    queued_ += text.size();
    q_.emplace_back(fd, std::move(text));
    cv_.notify_all();
  }
  // Waits up to `seconds` for what is queued to be written.
  void drain(double seconds) {
    std::unique_lock l(m_);
    cv_.wait_for(l, std::chrono::duration<double>(seconds), [&] { return q_.empty() && !busy_; });
  }

 private:
  static constexpr std::size_t kMaxQueued = 4 << 20;
  Output() { std::thread([this] { loop(); }).detach(); }
  void loop() {
    std::unique_lock l(m_);
    for (;;) {
      cv_.wait(l, [&] { return !q_.empty(); });
      auto [fd, text] = std::move(q_.front());
      q_.pop_front();
      busy_ = true;
      l.unlock();
      bool ok = true;
      for (std::size_t at = 0; ok && at < text.size();) {
        const ssize_t w = ::write(fd, text.data() + at, text.size() - at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = false;
        else at += static_cast<std::size_t>(w);
      }
      l.lock();
      busy_ = false;
      queued_ -= text.size();
      if (!ok) dead_[fd] = true;
      cv_.notify_all();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::pair<int, std::string>> q_;
  std::size_t queued_ = 0;
  bool busy_ = false;
  bool dead_[3] = {false, false, false};
};

void out(std::string s) { Output::get().put(1, std::move(s)); }
void err(std::string s) { Output::get().put(2, std::move(s)); }

// ---- the console: progress on stderr, the table on stdout

std::string human_time(double s) {
  if (s < 1e-6) return fmt::format("{:7.1f} ns", s * 1e9);
  if (s < 1e-3) return fmt::format("{:7.2f} us", s * 1e6);
  if (s < 1) return fmt::format("{:7.2f} ms", s * 1e3);
  return fmt::format("{:7.2f} s ", s);
}

std::string clock_text(double s) {
  const long t = static_cast<long>(s + 0.5);
  return fmt::format("{}:{:02}", t / 60, t % 60);
}

class Console {
 public:
  Console(bool quiet, std::size_t total) : quiet_(quiet), tty_(::isatty(2) != 0), total_(total), start_(now_seconds()) {}

  void header() {
    if (!quiet_) out(fmt::format("{:<64} {:>10} {:>10} {:>10} {:>6}  {}\n", "benchmark", "time(p50)", "algbw GB/s", "busbw GB/s", "%peak", "validation"));
  }
  void starting(std::size_t done, const std::string& name) {
    if (quiet_) return;
    const double elapsed = now_seconds() - start_;
    const std::string eta = done == 0 ? "?" : clock_text(elapsed / static_cast<double>(done) * static_cast<double>(total_ - done));
    err(fmt::format("{}[{}/{} {} elapsed, ~{} left] {}{}", tty_ ? "\r\033[K" : "", done + 1, total_, clock_text(elapsed), eta, name,
                    tty_ ? "" : "\n"));
  }
  void row(const std::string& name, const json& entries, const std::string& failure) {
    if (quiet_) return;
    if (tty_) err("\r\033[K");
    json shown;  // one row per benchmark: the median, or the only repetition
    for (const json& e : entries)
      if (e.value("aggregate_name", "") == "median" || (!shown.contains("aggregate_name") && e.value("run_type", "") == "iteration" &&
                                                       e.value("repetitions", 1) == 1))
        shown = e;
    if (!failure.empty())
      out(fmt::format("{:<64} {:>10} {:>10} {:>10} {:>6}  FAILED: {}\n", name, "-", "-", "-", "-", failure));
    else if (shown.is_null() || shown.value("error_occurred", false))
      out(fmt::format("{:<64} {:>10} {:>10} {:>10} {:>6}  passed\n", name, "-", "-", "-", "-"));
    else
      out(fmt::format("{:<64} {:>10} {:>10.3f} {:>10.3f} {:>5.1f}%  passed{}\n", name, human_time(shown.value("t_p50", 0.0)),
                      shown.value("algbw", 0.0), shown.value("busbw", 0.0), 100 * shown.value("peak_fraction", 0.0),
                      contention(entries)));
  }

  // "  (busy: …)" when the machine was contended while the benchmark ran: from its last
  // repetition, whose machine-state counters cover the whole benchmark.
  static std::string contention(const json& entries) {
    const json* last = nullptr;
    for (const json& e : entries)
      if (e.value("run_type", "") == "iteration" && e.contains("steal_pct") &&
          (!last || e.value("repetition_index", 0) >= last->value("repetition_index", 0)))
        last = &e;
    if (!last) return "";
    const std::string b = busy(last->value("steal_pct", 0.0), last->value("others_cpu_pct", 0.0),
                               last->value("load_avg", 0.0), last->value("online_cpus", 0.0),
                               last->value("state_seconds", 0.0));
    return b.empty() ? "" : "  (" + b + ")";
  }

 private:
  bool quiet_, tty_;
  std::size_t total_;
  double start_;
};

// ---- the results: what --out will hold, assembled from journal lines

int status_of(const std::string& s) {
  return s == "passed" ? kOk : s == "failed" ? kValidationFailed : kIncomplete;
}

// What --out keeps of a benchmark's entries: with --aggregates-only, its aggregates alone where it
// has any (an error entry is kept whatever it is).
json kept_entries(const json& entries, bool aggregates_only) {
  const bool aggregated = std::any_of(entries.begin(), entries.end(), [](const json& e) { return e.value("run_type", "") == "aggregate"; });
  json out = json::array();
  for (const json& e : entries)
    if (!aggregates_only || !aggregated || e.value("run_type", "") == "aggregate") out.push_back(e);
  return out;
}

class Results {
 public:
  // `kept`: an earlier run's entries and context (--resume), which this run's add to.
  Results(const RunOptions& opts, json kept, json context) : opts_(opts), benchmarks_(std::move(kept)) {
    if (!benchmarks_.is_array()) benchmarks_ = json::array();
    if (context.is_object() && context.contains("primbench")) {
      // Where the kept entries come from: the earlier run (what it was asked, when, by which
      // build, and which benchmarks it gave), and the runs it had itself resumed.
      const json earlier = context["primbench"].is_object() ? context["primbench"] : json::object();
      std::set<std::string> kept;
      for (const json& e : benchmarks_)
        kept.insert(benchmark_of(e));
      resumed_from_.push_back({{"command_line", earlier.value("command_line", json())}, {"date", context.value("date", json())},
                               {"git_revision", earlier.value("git_revision", json())}, {"build_id", earlier.value("build_id", json())},
                               {"plugins", earlier.value("plugins", json())}, {"machine", earlier.value("machine", json())},
                               {"ceilings", earlier.value("ceilings", json())},
                               {"benchmarks", kept}});
      if (earlier.contains("resumed_from") && earlier["resumed_from"].is_array())
        for (const json& r : earlier["resumed_from"]) resumed_from_.push_back(r);
      context.erase("primbench");
      gb_context_ = std::move(context);
    }
    // A kept entry that did not pass (of a benchmark not planned now: resume() drops the planned
    // ones' failures) is still in --out, and the exit status says so.
    std::set<std::string> failed;
    for (const json& e : benchmarks_) {
      if (e.contains("family_index") && e["family_index"].is_number_unsigned())
        family_ = std::max(family_, e["family_index"].get<std::size_t>() + 1);
      const bool error = e.contains("error_occurred") && e["error_occurred"] != json(false);
      const json v = e.value("validation", json());
      const int s = v == json("failed") ? kValidationFailed : error ? kIncomplete : status_of(v.is_string() ? v.get<std::string>() : "");
      if (s != kOk) failed.insert(benchmark_of(e)), kept_status_ = std::max(kept_status_, s);
    }
    kept_failed_ = failed.size();
  }
  // The benchmarks kept from an earlier run (--resume) that did not pass.
  std::size_t kept_failed() const { return kept_failed_; }
  void set_ceilings(const Ceilings& c) { ceilings_ = c; }
  void add(const json& done) {
    family_of_[done["done"].get<std::string>()] = family_;
    insert(done, family_, benchmarks_.size());
    ++family_;
  }
  // A benchmark's result that turned out forged: its entries give way to `done`'s, in place.
  void replace(const json& done) {
    const auto it = family_of_.find(done["done"].get<std::string>());
    if (it == family_of_.end()) return add(done);
    std::size_t at = benchmarks_.size();
    for (std::size_t i = benchmarks_.size(); i-- > 0;)
      if (benchmarks_[i].value("family_index", json()) == it->second) benchmarks_.erase(i), at = i;
    insert(done, it->second, at);
  }
  // Google Benchmark's context from a worker or the first MPI rank: that of the machine that ran.
  void context(const json& c) {
    if (!fresh_context_ && c.is_object() && !c.empty()) gb_context_ = c, fresh_context_ = true;
  }
  void launched(json launch) { launches_.push_back(std::move(launch)); }
  int status() const { return std::max(status_, kept_status_); }  // of everything --out holds
  int own_status() const { return status_; }                         // of this run's benchmarks
  std::size_t size() const { return family_; }

  std::string text() const {
    // This process's own fills in what no worker said (nothing started, a peer without Google
    // Benchmark, a resumed file from an older primbench).
    json c = own_context_;
    if (gb_context_.is_object()) c.update(gb_context_);
    c["primbench"] = primbench_context(opts_, ceilings_);
    if (!resumed_from_.empty()) c["primbench"]["resumed_from"] = resumed_from_;
    if (!launches_.empty())
      c["primbench"]["launched"] = {{"mpi_library", registry().availability("mpi").version}, {"launches", launches_}};
    json doc = {{"context", std::move(c)}, {"benchmarks", benchmarks_}};
    return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  }

 private:
  void insert(const json& done, std::size_t family, std::size_t at) {
    for (json e : kept_entries(done["entries"], opts_.aggregates_only)) {
      e["family_index"] = family;
      e["per_family_instance_index"] = 0;
      benchmarks_.insert(benchmarks_.begin() + static_cast<std::ptrdiff_t>(at++), std::move(e));
    }
    status_ = std::max(status_, status_of(done.value("status", "error")));
  }

  const RunOptions& opts_;
  Ceilings ceilings_;
  json benchmarks_;
  std::map<std::string, std::size_t> family_of_;  // this run's benchmarks, by name
  json gb_context_;
  const json own_context_ = google_benchmark_context();
  json launches_ = json::array();
  json resumed_from_ = json::array();  // --resume: the earlier runs the kept entries come from, latest first
  bool fresh_context_ = false;  // Google Benchmark's context from this run, not the resumed one
  std::size_t family_ = 0;
  std::size_t kept_failed_ = 0;
  int status_ = kOk, kept_status_ = kOk;
};

// Rewrites --out after a benchmark unless that would take more than a twentieth of the run:
// a document of thousands of entries is rewritten every few seconds, not after each benchmark
// (the journal keeps each one the moment it finishes).
class Saver {
 public:
  Saver(ResultsFile* file, const Results& results) : file_(file), results_(results) {}
  void maybe() {
    if (file_ && now_seconds() - last_ >= 20 * cost_) save(false);
  }
  void save(bool final) {
    if (!file_) return;
    const double t0 = now_seconds();
    file_->write(results_.text(), final);
    last_ = now_seconds();
    cost_ = last_ - t0;
  }

 private:
  ResultsFile* file_;
  const Results& results_;
  double last_ = 0, cost_ = 0;
};

// ---- signals: SIGINT, SIGTERM and SIGHUP end the run cleanly; SIGPIPE never does

int g_signal_pipe[2] = {-1, -1};
volatile sig_atomic_t g_signal = 0;
volatile sig_atomic_t g_signal_from = 0;  // the sender's pid

void on_signal(int sig, siginfo_t* info, void*) {
  if (!g_signal) {
    g_signal_from = info ? info->si_pid : 0;
    g_signal = sig;
  }
  const int saved = errno;
  const char c = static_cast<char>(sig);
  [[maybe_unused]] ssize_t w = ::write(g_signal_pipe[1], &c, 1);
  errno = saved;
}

void install_signals() {
  if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("cannot create a pipe");
  struct sigaction sa{};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Orphans of a worker (a launcher's ranks, a child that left its process group) become this
  // process's children, so none is left behind.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// ---- workers

pid_t parent_of(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  const std::size_t close = stat.rfind(')');
  char state = 0;
  int ppid = 0;
  if (close == std::string::npos || std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2) return 0;
  return ppid;
}

// Whether `pid` is one of this process's descendants (a worker, a launcher, a rank).
bool descendant(pid_t pid) {
  const pid_t self = ::getpid();
  for (int depth = 0; pid > 1 && depth < 64; ++depth) {
    pid = parent_of(pid);
    if (pid == self) return true;
  }
  return false;
}

// Every child of this process (the subreaper's orphans included), from /proc.
std::vector<pid_t> children() {
  std::vector<pid_t> out;
  const pid_t self = ::getpid();
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid > 0 && parent_of(pid) == self) out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

// Kills and reaps every process left under this one; their children come to it in turn.
void sweep() {
  for (int round = 0; round < 200; ++round) {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {}
    const std::vector<pid_t> left = children();
    if (left.empty()) return;
    for (pid_t p : left) ::kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

struct Worker {
  pid_t pid = -1;
  int output = -1;  // the worker's stdout and stderr
  int status = 0;
  bool exited = false;

  bool poll_exit() {
    if (exited) return true;
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) exited = true;
    return exited;
  }
  // SIGTERM to its process group, SIGKILL after a grace period, then every orphan. The worker
  // itself is signalled too, in case it left its group.
  void terminate(double grace) {
    if (!exited) {
      ::kill(-pid, SIGTERM), ::kill(pid, SIGTERM);
      const double until = now_seconds() + grace;
      while (!poll_exit() && now_seconds() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(-pid, SIGKILL);
    if (!exited) ::kill(pid, SIGKILL);
    for (const double until = now_seconds() + 10; !poll_exit() && now_seconds() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    sweep();
  }
};

// Starts `argv` in a process group of its own, tied to this process: stdin from /dev/null (a
// launcher in a background group must not stop on the terminal), stdout and stderr to a pipe
// the supervisor forwards, killed if the supervisor dies.
std::optional<Worker> spawn(const std::vector<std::string>& argv, const std::vector<std::string>& environment, std::string* error) {
  int io[2], report[2];
  if (::pipe2(io, O_CLOEXEC) != 0 || ::pipe2(report, O_CLOEXEC) != 0) {
    *error = std::strerror(errno);
    return std::nullopt;
  }
  std::vector<char*> args, envs;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : environment) envs.push_back(const_cast<char*>(e.c_str()));
  envs.push_back(nullptr);
  // primbench itself by this process's own image: the file at its path may since have been
  // rebuilt or replaced, and a worker of another build would measure what this run does not say.
  const char* file = argv[0] == self_executable() ? "/proc/self/exe" : args[0];
  const pid_t self = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != self) ::_exit(127);
    struct sigaction sa{};
    sa.sa_handler = SIG_DFL;
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::sigaction(sig, &sa, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(io[1], 1);
    ::dup2(io[1], 2);
    ::execvpe(file, args.data(), envs.data());
    const int e = errno;
    [[maybe_unused]] ssize_t w = ::write(report[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(io[1]);
  ::close(report[1]);
  if (pid < 0) {
    *error = std::strerror(errno);
    ::close(io[0]);
    ::close(report[0]);
    return std::nullopt;
  }
  ::setpgid(pid, pid);
  int e = 0;
  const bool failed = ::read(report[0], &e, sizeof e) == sizeof e;
  ::close(report[0]);
  Worker w{pid, io[0]};
  if (failed) {
    ::waitpid(pid, &w.status, 0);
    ::close(io[0]);
    *error = std::strerror(e);
    return std::nullopt;
  }
  ::fcntl(io[0], F_SETFL, O_NONBLOCK);
  return w;
}

std::vector<std::string> environment() {
  std::vector<std::string> v;
  for (char** e = environ; *e; ++e) v.emplace_back(*e);
  return v;
}

std::string number(double v) { return fmt::format("{}", v); }

std::string joined(const std::vector<std::string>& items, const std::string& sep = ",") {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : sep) + i;
  return s;
}

std::string shell_words(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    const bool plain = !a.empty() && a.find_first_of(" \t'\"*?$\\;&|<>()") == std::string::npos;
    s += (s.empty() ? "" : " ") + (plain ? a : "'" + a + "'");
  }
  return s;
}

// What one worker runs: the shared-memory benchmarks, or those of one process-per-rank
// backend at one rank count; in either case those of the implementations built in, or those of
// one plugin's. A plugin's implementations run in processes that load that plugin alone, so
// one that writes into the journal can say nothing of another implementation's benchmarks
// (they are in no plan of its worker) and cannot run code in their workers.
struct Job {
  const Backend* backend = nullptr;  // null: shared memory, one worker process
  int ranks = 0;
  std::string plugin;  // "" for the implementations built in
  std::vector<const Planned*> items{};
};

// Distinct values in plan order.
template <class F> std::vector<std::string> distinct(const std::vector<const Planned*>& items, F&& f) {
  std::vector<std::string> out;
  for (const Planned* p : items) {
    std::string v = f(*p);
    if (!v.empty() && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
  }
  return out;
}

// The worker's command line: selectors whose product holds the items (the worker runs only
// those listed in `only`), and the run options.
std::vector<std::string> worker_command(const std::vector<const Planned*>& items, const RunOptions& o, const std::string& plugin,
                                        const std::string& journal, const std::string& only) {
  std::vector<std::string> ops = distinct(items, [](const Planned& p) {
    return p.problem.info().takes_op ? std::string(name(p.problem.op)) : std::string();
  });
  std::vector<std::string> a = {
      self_executable(), o.timing ? "run" : "validate",
      "--impl", joined(distinct(items, [](const Planned& p) { return p.impl->name; })),
      "--primitive", joined(distinct(items, [](const Planned& p) { return std::string(name(p.problem.primitive)); })),
      "--dtype", joined(distinct(items, [](const Planned& p) { return std::string(name(p.problem.dtype)); })),
      "--op", ops.empty() ? "sum" : joined(ops),
      "--ranks", joined(distinct(items, [](const Planned& p) { return std::to_string(p.problem.ranks); })),
      "--count", joined(distinct(items, [](const Planned& p) { return std::to_string(p.problem.count); })),
      "--root", joined(distinct(items, [](const Planned& p) { return p.root_text(); })),
      "--validate", std::to_string(o.validate_rounds),
      "--check", o.both_modes ? "both" : o.mode == validate::Mode::exact ? "exact" : "random",
      "--seed", std::to_string(o.seed),
      "--timeout", number(o.timeout),
      "--quiet", "--worker", journal, "--only", only, "--supervisor-pid", std::to_string(::getpid())};
  if (o.aggregates_only) a.push_back("--aggregates-only");  // no use to a worker, but part of its options record
  if (o.timing) {
    a.insert(a.end(), {"--repetitions", std::to_string(o.repetitions), "--min-time", number(o.min_time), "--warmup", number(o.warmup),
                       "--cache", o.cold ? "cold" : "hot", "--check-iterations", std::to_string(o.check_iterations),
                       "--check-budget", number(o.check_budget),
                       "--ceilings", fmt::format("{},{},{}", number(o.ceilings.host_read_GBps), number(o.ceilings.host_copy_GBps),
                                                  number(o.ceilings.host_cache_copy_GBps))});
    if (o.huge_pages) a.push_back("--hugepages");
    if (o.ceilings.host_round_trip_ns > 0) a.insert(a.end(), {"--round-trip-ns", number(o.ceilings.host_round_trip_ns)});
    a.insert(a.end(), {"--rse", number(o.rse), "--rse-max-time", number(o.rse_max_time)});
  }
  if (!plugin.empty()) a.insert(a.end(), {"--plugin", plugin});
  for (const auto& [backend, why] : o.failed_probes) a.insert(a.end(), {"--backend-unavailable", backend + "=" + why});
  return a;
}

std::string phase_words(const std::string& phase) {
  if (phase == "setup") return "while allocating its buffers";
  if (phase == "validation") return "during validation";
  if (phase == "warm-up") return "during the warm-up";
  if (phase == "timed loop") return "during the timed loop";
  if (phase == "check after timing") return "during the check after timing";
  if (phase == "teardown") return "while freeing its buffers";
  return "while starting the benchmark";
}

std::string death(const Worker& w, const std::string& who) {
  if (WIFEXITED(w.status)) return fmt::format("{} exited with status {}", who, WEXITSTATUS(w.status));
  if (WIFSIGNALED(w.status)) {
    const int sig = WTERMSIG(w.status);
    return fmt::format("{} was killed by {} ({})", who, signal_name(sig), ::strsignal(sig));
  }
  return who + " ended";
}

// A finished benchmark's line as a worker writes it: entries of that benchmark only, at least
// one where it passed a timed run (validate's passing lines have none).
bool well_formed(const json& done, const std::string& name, bool timing) {
  const json* entries = done.contains("entries") ? &done["entries"] : nullptr;
  if (!entries || !entries->is_array()) return false;
  if (timing && entries->empty() && done.value("status", json()) == "passed") return false;
  const std::string prefix = name + "/manual_time";
  for (const json& e : *entries)
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || e["name"].get<std::string>().rfind(prefix, 0) != 0)
      return false;
  return !done.contains("status") || done["status"].is_string();
}

class Supervisor {
 public:
  Supervisor(const RunOptions& opts, Results& results, Saver& saver, Console& console, const std::string& journal)
      : opts_(opts), results_(results), saver_(saver), console_(console), journal_(journal), writer_(journal), reader_(journal) {
    // The run's command line (a worker's is its own): --resume names it when only the journal survives.
    try {
      writer_.append({{"supervisor", true}, {"run", {{"command_line", opts.command_line}}}});
    } catch (const JournalError& e) {
      fatal_ = e.what();
    }
  }

  int interrupted() const { return interrupted_; }
  const std::string& fatal() const { return fatal_; }

  void run(const Job& job) {
    std::map<std::string, const Planned*> by_name;
    for (const Planned* p : job.items) by_name[p->name] = planned_[p->name] = p;
    std::set<std::string>& finished = finished_;
    // A backend whose probe crashed, exited or hung (main.cpp) starts nothing: its benchmarks
    // are errors that say so, as a launcher's failure's are.
    for (const Planned* p : job.items)
      if (const auto f = opts_.failed_probes.find(p->impl->backend()); f != opts_.failed_probes.end() && !finished.count(p->name)) {
        fail(*p, fmt::format("not run: the {} backend's probe failed: {}", f->first, f->second));
        finished.insert(p->name);
      }
    const std::string who = job.backend ? "the MPI job" : "the worker";
    while (true) {
      std::vector<const Planned*> todo;
      for (const Planned* p : job.items)
        if (!finished.count(p->name)) todo.push_back(p);
      if (todo.empty()) return;
      if (stopped()) return not_run(todo, stop_reason());

      const std::string only = journal_ + ".plan";
      {
        std::ofstream f(only, std::ios::trunc);
        for (const Planned* p : todo) f << p->name << "\n";
        if (!f.flush()) return fail_all(todo, "cannot write the worker's plan '" + only + "': " + std::strerror(errno));
      }
      std::vector<std::string> cmd = worker_command(todo, opts_, job.plugin, journal_, only);
      Launch how{cmd, environment()};
      if (job.backend) {
        std::string failed;
        try {
          how = job.backend->launch(job.ranks, cmd);
          if (how.argv.empty()) failed = "it returned no command";
        } catch (const std::exception& e) {
          failed = e.what();
        } catch (...) {
          failed = "it threw something other than an exception";
        }
        // A plugin's launcher: its benchmarks cannot start, the other backends' still can.
        if (!failed.empty()) {
          const std::string why = fmt::format("the {} backend's launcher failed: {}", job.backend->name, failed);
          not_run(todo, why);
          err(fmt::format("primbench: error: {} benchmark{} not run: {}\n", todo.size(), todo.size() == 1 ? "" : "s", why));
          return;
        }
        if (!opts_.quiet)
          err(fmt::format("launching {} benchmark{} on {} ranks ({}): {}\n", todo.size(), todo.size() == 1 ? "" : "s", job.ranks,
                          job.backend->name, shell_words(how.argv)));
      }
      std::string why;
      std::optional<Worker> w = spawn(how.argv, how.environment, &why);
      if (!w) return not_run(todo, fmt::format("cannot start '{}': {}", how.argv[0], why));

      // `current`: started and not yet done; `last`: done last, until the next start. The worker
      // writes start, phases and done of one benchmark after another, so any other line is an
      // implementation's (that of `current`, or `last`'s left running) writing into the journal.
      std::string current, last, phase, last_line, hung, forged, foreign;
      std::vector<std::string> done_here;  // by this worker, in order
      bool started = false, ended = false;
      json worker_context;
      double progress = now_seconds();
      // A line the worker would not write, about benchmark `about` ("" when it names none).
      auto forgery = [&](const std::string& about) {
        const std::string culprit = !current.empty() ? current : last;
        forged = "stopped: a line the worker did not write appeared in primbench's journal";
        // A second result for one of this worker's benchmarks voids the first. Another worker's
        // benchmark is not this worker's to speak of: its result stands (or it is still measured).
        if (by_name.count(about) && finished.count(about))
          void_result(about, "the worker wrote two results for it: an implementation writing into primbench's journal?");
        if (by_name.count(culprit))
          void_result(culprit, fmt::format("a line was forged into primbench's journal while it ran{}: an implementation "
                                           "writing into the journal?", about.empty() || about == culprit ? "" : " (about " + about + ")"));
        current.clear();  // what else this worker writes is not believed (a fresh one runs the rest)
      };
      auto handle = [&](const json& line) {
        if (!forged.empty() || !foreign.empty() || line.contains("supervisor")) return;  // after a forgery; this process's own lines
        try {
          if (line.contains("worker")) {
            worker_context = line["worker"];
            if (foreign = other_build(worker_context, how.argv); !foreign.empty()) return;
          }
          if (line.contains("start") && worker_context.is_null()) {
            foreign = "stopped: the worker began a benchmark without saying which build of primbench it is";
            return;
          }
          if (line.contains("context")) results_.context(line["context"]);
          if (line.contains("finished"))  // written once the worker's whole plan is done (believed only then)
            ended = std::all_of(todo.begin(), todo.end(), [&](const Planned* p) { return finished.count(p->name) > 0; });
          if (line.contains("start")) {
            const std::string n = line["start"].get<std::string>();
            if (!current.empty() || !by_name.count(n) || finished.count(n)) return forgery(n);
            current = n, phase.clear(), started = true, progress = now_seconds();
            console_.starting(done_, current);
          }
          if (line.contains("phase")) {
            if (current.empty()) return forgery(last);  // about the benchmark done last, after its done
            phase = line["phase"].get<std::string>();
          }
          if (line.contains("done")) {
            const std::string n = line["done"].get<std::string>();
            if (n != current) return forgery(n);  // another benchmark's, or a second for one done
            finished.insert(n);
            done_here.push_back(n);
            if (well_formed(line, n, opts_.timing)) {
              results_.add(line), ++done_;
              console_.row(n, line["entries"], line.value("failure", ""));
              if (line.value("status", "") == "error") err(fmt::format("primbench: error: {}: {}\n", n, line.value("failure", "error")));
              if (const auto r = retried_.find(n); r != retried_.end()) acquitted(n, r->second);
              save();
            } else {
              // Said to be done, with entries that are not this benchmark's: an error, not a rerun.
              const std::string why = "the worker's results for it are malformed (none, or entries not named " + n + "/manual_time…)";
              fail(*by_name[n], why), voided_.insert(n);
              err(fmt::format("primbench: error: {}: {}\n", n, why));
            }
            last = n, current.clear(), phase.clear(), progress = now_seconds();
          }
        } catch (const json::exception&) {
          forgery("");  // not a line the worker writes (no string where one belongs): an implementation's
        }
      };
      // The worker's output, forwarded in whole lines; its own messages to the supervisor kept.
      std::string pending, says;
      auto forward = [&] {
        char buf[1 << 16];
        for (int pass = 0; pass < 16; ++pass) {  // bounded: a worker that never stops writing still times out
          const ssize_t k = ::read(w->output, buf, sizeof buf);
          if (k <= 0) break;
          pending.append(buf, static_cast<std::size_t>(k));
        }
        std::string shown;
        std::size_t begin = 0;
        for (std::size_t nl; (nl = pending.find('\n', begin)) != std::string::npos; begin = nl + 1) {
          const std::string_view l(pending.data() + begin, nl - begin);
          if (l.rfind(kWorkerSays, 0) == 0) {
            says = l.substr(std::strlen(kWorkerSays));
            continue;
          }
          if (!l.empty()) last_line = l.substr(0, 200);
          shown.append(l).push_back('\n');
        }
        pending.erase(0, begin);
        if (pending.size() > (1 << 16)) shown += pending + "\n", last_line = pending.substr(0, 200), pending.clear();
        if (!shown.empty()) err(std::move(shown));
      };
      std::string poked;  // a signal to the supervisor that came from the worker's own processes
      // (the worker itself too once it is reaped: its pid is no one else's until then)
      auto poke = [&] {
        const auto from = static_cast<pid_t>(g_signal_from);
        if (!g_signal || interrupted_ || !(from == w->pid || descendant(from))) return false;
        poked = fmt::format("sent {} to primbench itself", signal_name(g_signal));
        g_signal = 0;
        for (char c; ::read(g_signal_pipe[0], &c, 1) == 1;) {}
        return true;
      };
      while (!w->poll_exit()) {
        pollfd fds[2] = {{w->output, POLLIN, 0}, {g_signal_pipe[0], POLLIN, 0}};
        ::poll(fds, 2, 50);
        forward();
        for (const json& line : reader_.read_new()) handle(line);
        if (poke()) break;
        if (stopped() || !forged.empty() || !foreign.empty()) break;
        if (now_seconds() - progress > opts_.timeout) {
          hung = fmt::format("hung: no progress for {:.0f} s (--timeout {:g})", now_seconds() - progress, opts_.timeout);
          break;
        }
      }
      if (poked.empty()) poke();  // sent just before it exited
      w->terminate(stopped() || !hung.empty() || !poked.empty() || !forged.empty() || !foreign.empty() ? 3.0 : 0.0);
      forward();
      ::close(w->output);
      if (!pending.empty()) err(pending + "\n"), last_line = pending.substr(0, 200);
      for (const json& line : reader_.read_new()) handle(line);

      if (job.backend) {
        json launch = {{"ranks", job.ranks}, {"backend", job.backend->name}, {"command", shell_words(how.argv)},
                       {"exit_status", WIFEXITED(w->status) ? WEXITSTATUS(w->status) : -1}};
        if (worker_context.is_object()) {
          launch["world_size"] = worker_context.value("world_size", 0);
          launch["hosts"] = worker_context.value("hosts", json::object());
          if (worker_context.contains("builds")) launch["builds"] = worker_context["builds"];
        }
        results_.launched(std::move(launch));
      }
      // A worker that could not write the journal ends the run, as this process would: it was
      // blamed for a "death" after other benchmarks and run again, the full disk said twice.
      if (says.rfind(kJournalFailed, 0) == 0) {
        if (fatal_.empty()) fatal_ = says.substr(std::strlen(kJournalFailed));
        says.clear();
      }
      const bool killed = !hung.empty() || !poked.empty() || !forged.empty() || !foreign.empty() || interrupted_;
      std::string reason = !stop_reason().empty() ? stop_reason() : !hung.empty() ? hung : !poked.empty() ? who + " " + poked
                         : !forged.empty() ? forged : !foreign.empty() ? foreign : death(*w, who);
      std::string tail = !says.empty() ? " (" + says + ")" : last_line.empty() || killed ? "" : " (last output: " + last_line + ")";
      if (!killed && WIFSIGNALED(w->status) && WTERMSIG(w->status) == SIGKILL)
        tail += " (SIGKILL comes from the OOM killer or another process)";
      if (!current.empty() && by_name.count(current) && !killed && !stopped() && !done_here.empty() &&
          retried_.emplace(current, Retried{fmt::format("{} {}{}", reason, phase_words(phase), tail), done_here}).second) {
        // Died after others ran in the same process: what killed it may be one of theirs (a
        // thread left running that crashed later). It runs again, first in a fresh worker,
        // before it is blamed (the next loop's todo starts with it).
        err(fmt::format("primbench: {}: {}; running it again in a fresh worker\n", current, retried_[current].why));
      } else if (!current.empty() && by_name.count(current)) {
        const std::string why = fmt::format("{} {}{}", reason, phase_words(phase), tail);
        fail(*by_name[current], why);
        finished.insert(current);
        if (!stopped()) err(fmt::format("primbench: error: {}: {}\n", current, why));
      } else if (!killed && !stopped() && ended && (!(WIFEXITED(w->status) && WEXITSTATUS(w->status) == 0) || !says.empty()) &&
                 by_name.count(last) && !voided_.count(last)) {
        // After its plan's "finished" a worker only ends (_exit(0), main.cpp): any other end, or
        // one it says exit() was called, is the last implementation's (a thread it left running
        // that crashed or called exit(), a rank that crashed freeing its buffers after rank 0
        // said done), not a clean run.
        void_result(last, fmt::format("{} after its last result{}", reason, tail));
      } else if (!killed && !ended && says.empty() && by_name.count(last) && !voided_.count(last)) {
        // Between one benchmark's done and the next start only primbench runs: a worker ending
        // there is the last one's implementation (a forged done, then _exit), not to be believed.
        void_result(last, fmt::format("{} right after its result, before the next benchmark{}", reason, tail));
      } else if (std::none_of(todo.begin(), todo.end(), [&](const Planned* p) { return finished.count(p->name) > 0; })) {
        // Nothing ran, or it ended without finishing any: the next worker would do the same.
        const std::vector<const Planned*>& rest = todo;
        const std::string why = reason + (started ? " without finishing a benchmark" : " before running any benchmark") + tail;
        not_run(rest, why);
        if (!stopped()) err(fmt::format("primbench: error: {} benchmark{} not run: {}\n", rest.size(), rest.size() == 1 ? "" : "s", why));
        return;
      }
    }
  }

  // Why a worker (or a launch's first rank) that says `worker` in its first line is not this run's
  // own: another build of primbench (its file rebuilt or replaced while this ran, or another
  // build at that path on a launched host), a peer's script or validator changed since this run
  // first launched it, or (primbench or a peer) options other than this run's. "" when it is.
  std::string other_build(const json& worker, const std::vector<std::string>& argv) {
    const json id = worker.is_object() ? worker.value("build_id", json()) : json();
    auto shown = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };  // a build as a worker said it
    const bool primbench = std::find(argv.begin(), argv.end(), self_executable()) != argv.end();  // not a peer
    if (primbench && id != json(build_id()))
      return fmt::format("stopped: the worker is another build of primbench (build id {}, this run's {}): was '{}' rebuilt or "
                         "replaced while this ran{}?", shown(id), build_id(),
                         self_executable(), argv.empty() || argv[0] == self_executable() ? "" : ", or is another build at that path on the hosts it was launched on");
    if (primbench) {
      const json plugins = worker.is_object() ? worker.value("plugins", json::object()) : json::object();
      const json ours = plugin_builds();
      for (const auto& [path, id] : plugins.items())
        if (!ours.contains(path) || ours[path] != id)
          return fmt::format("stopped: the worker loaded another build of the plugin '{}' (build id {}, this run's {}): was it rebuilt "
                             "or replaced while this ran?", path, shown(id),
                             ours.value(path, "none"));
    }
    // A peer names the files it runs (its script, the validator it loaded) with their contents'
    // hash: each must be what the first peer launched in this run said it was.
    const json files = !primbench && worker.is_object() ? worker.value("builds", json::object()) : json::object();
    for (const auto& [path, id] : files.items()) {
      const json& first = peer_files_.emplace(path, id).first->second;
      if (id != first)
        return fmt::format("stopped: the worker runs another build of '{}' ({}, this run's first {}): was it rebuilt or replaced "
                           "while this ran?", path, shown(id), shown(first));
    }
    const json options = worker.is_object() ? worker.value("options", json()) : json();
    if (const std::string differ = options_differ(options, options_record(opts_)); !differ.empty())
      return "stopped: the worker " + differ + " (a primbench bug)";
    return "";
  }

  // Benchmark `name`, whose worker died while it ran after other benchmarks, finished alone in a
  // fresh one: the death was not its own. One benchmark before it in that worker is then the
  // culprit (its entries made an error); of several, which one cannot be told, and they are named.
  struct Retried {
    std::string why;                  // how its first worker died
    std::vector<std::string> before;  // the benchmarks that worker had finished
  };
  void acquitted(const std::string& name, const Retried& r) {
    if (r.before.size() == 1) {
      void_result(r.before[0], fmt::format("it left something running that ended its worker after its result: {} while the next "
                                           "benchmark, {}, ran, which then ran alone in a fresh worker", r.why, name));
    } else {
      err(fmt::format("primbench: warning: {} ran again alone in a fresh worker; what ended the first ({}) was left running by one "
                      "of the {} benchmarks before it in that worker, which cannot be told apart: {}\n", name, r.why,
                      r.before.size(), fmt::join(r.before, ", ")));
    }
  }

  // A benchmark's result replaced by an error entry (once: the first reason stays).
  void void_result(const std::string& name, const std::string& why) {
    if (!voided_.insert(name).second) return;
    fail(*planned_.at(name), why, finished_.count(name) > 0);
    finished_.insert(name);
    err(fmt::format("primbench: error: {}: {}\n", name, why));
  }

  void not_run(const std::vector<const Planned*>& items, const std::string& why) {
    for (const Planned* p : items) fail(*p, "not run: " + why);
  }

  std::string stop_reason() const {
    if (interrupted_) return "interrupted: primbench received " + signal_name(interrupted_);
    if (!fatal_.empty()) return "the run stopped: " + fatal_;
    return "";
  }

 private:
  bool stopped() {
    if (g_signal && !interrupted_) interrupted_ = g_signal;
    return interrupted_ || !fatal_.empty();
  }
  void fail_all(const std::vector<const Planned*>& items, const std::string& why) {
    if (fatal_.empty()) fatal_ = why;
    not_run(items, why);
  }
  // The benchmark's error entry (instead of its result so far, with `replace`), kept in the
  // journal too, marked as this process's own.
  void fail(const Planned& p, const std::string& why, bool replace = false) {
    json entries = json::array({error_entry(p, why)});
    label(entries, p, "error");
    json done = {{"done", p.name}, {"entries", entries}, {"status", "error"}, {"failure", why}, {"supervisor", true}};
    if (replace) results_.replace(done);
    else results_.add(done), ++done_;
    console_.row(p.name, entries, why);
    try {
      writer_.append(done);
    } catch (const JournalError& e) {
      if (fatal_.empty()) fatal_ = e.what();
    }
    save();
  }
  void save() {
    if (!fatal_.empty()) return;  // one attempt at the end, not one per benchmark left
    try {
      saver_.maybe();
    } catch (const WriteError& e) {
      if (fatal_.empty()) fatal_ = e.what();
    }
  }

  const RunOptions& opts_;
  Results& results_;
  Saver& saver_;
  Console& console_;
  std::string journal_;
  Journal writer_;
  JournalReader reader_;  // one for the whole run: each line is read once
  std::size_t done_ = 0;
  std::map<std::string, const Planned*> planned_;  // every job's so far, by name
  std::set<std::string> finished_;                 // with a result (or an error entry) in this run
  std::set<std::string> voided_;                   // made errors by the supervisor after a forgery
  std::map<std::string, Retried> retried_;  // run again after their worker died (once each)
  std::map<std::string, json> peer_files_;  // a peer's files, the builds the first peer launched named
  int interrupted_ = 0;
  std::string fatal_;
};

std::vector<Job> jobs(const std::vector<Planned>& plan, const RunOptions& opts) {
  std::vector<Job> local;  // the built-in implementations' and each plugin's, as the plan first names them
  std::map<std::tuple<int, std::string, std::string>, Job> launched;  // rank counts ascending, plan order within
  for (const Planned& p : plan) {
    const Backend* b = registry().backend(p.impl->backend());
    const auto from = opts.plugin_of.find(p.impl->name);
    const std::string plugin = from == opts.plugin_of.end() ? "" : from->second;
    if (b && b->process_per_rank()) {
      Job& j = launched[{p.problem.ranks, b->name, plugin}];
      j.backend = b, j.ranks = p.problem.ranks, j.plugin = plugin;
      j.items.push_back(&p);
    } else {
      auto j = std::find_if(local.begin(), local.end(), [&](const Job& k) { return k.plugin == plugin; });
      if (j == local.end()) j = local.insert(local.end(), Job{.plugin = plugin});
      j->items.push_back(&p);
    }
  }
  std::vector<Job> out = std::move(local);
  for (auto& [key, j] : launched) out.push_back(std::move(j));
  return out;
}

// A run's lines from an earlier journal: the benchmarks it finished and passed, each after its
// own start and after a worker's line that says it measured with this run's options (other
// options: UsageError); any later line about one (the supervisor's error entry for it, a second
// result, a phase after its done) and it runs again. Added to `r`: those still to run (they no longer
// are), and those not planned now that --out has no entry of (as --resume keeps --out's
// entries of benchmarks not planned). How many benchmarks it added.
std::size_t merge_stale(const std::string& journal, Resumed& r, const RunOptions& opts) {
  std::map<std::string, json> passed;
  std::string current, last;
  json earlier;           // the context of the killed run's first worker
  bool measured = false;  // a worker of the killed run said its options: results after it count
  const json options = options_record(opts);
  JournalReader reader(journal);
  auto text = [](const json& line, const char* key) { return line[key].is_string() ? line[key].get<std::string>() : std::string(); };
  std::string command_line;  // the killed run's own
  for (const json& line : reader.read_new()) {
    if (line.contains("run") && line.contains("supervisor") && line["run"].is_object()) {
      command_line = line["run"].value("command_line", "");
    } else if (line.contains("worker")) {
      // Its workers' options are the killed run's: only results measured as this run measures.
      const json& w = line["worker"];
      if (const std::string differ = options_differ(w.is_object() && w.contains("options") ? w["options"] : json(), options);
          !differ.empty())
        throw UsageError("--resume: the journal '" + journal + "' that a killed run left " + differ +
                         ": resume with its options, or run without --resume");
      for (const std::string& differ : {machine_differs(w, cpu_model()), slowdown_differs(w)})
        if (!differ.empty())
          throw UsageError("--resume: the journal '" + journal + "' that a killed run left " + differ +
                           ": its results would not compare with this run's; run without --resume");
      if (earlier.is_null() && line.contains("context") && line["context"].is_object())
        earlier = line["context"], earlier["primbench"] = w;
      measured = true;
    } else if (line.contains("start")) {
      current = text(line, "start");
      passed.erase(current);
    } else if (line.contains("phase") && current.empty()) {
      passed.erase(last);
    } else if (line.contains("done")) {
      const std::string n = text(line, "done");
      if (measured && n == current && !line.contains("supervisor") && line.value("status", json()) == "passed" && well_formed(line, n, true))
        passed[n] = line["entries"];
      else
        passed.erase(n);
      last = n, current.clear();
    }
  }
  std::size_t family = 0;
  std::set<std::string> in_out;
  for (const json& e : r.benchmarks) {
    in_out.insert(benchmark_of(e));
    if (e.is_object() && e.contains("family_index") && e["family_index"].is_number_unsigned())
      family = std::max(family, e["family_index"].get<std::size_t>() + 1);
  }
  std::size_t added = 0;
  auto add = [&](const json& entries) {
    for (json e : kept_entries(entries, opts.aggregates_only)) {
      e["family_index"] = family, e["per_family_instance_index"] = 0;
      r.benchmarks.push_back(std::move(e));
    }
    ++family, ++added;
  };
  std::vector<Planned> todo;
  for (Planned& p : r.todo) {
    if (auto it = passed.find(p.name); it != passed.end()) {
      add(it->second);
      passed.erase(it);
    } else {
      todo.push_back(std::move(p));
    }
  }
  for (const auto& [name, entries] : passed)
    if (!in_out.count(name)) add(entries);
  r.todo = std::move(todo);
  // No --out to resume (killed before it was first written): the kept results are the killed run's.
  const bool out_said = r.context.is_object() && r.context.contains("primbench");
  if (added && !out_said && !earlier.is_null()) {
    if (!command_line.empty()) earlier["primbench"]["command_line"] = command_line;
    r.context = std::move(earlier);
  }
  return added;
}

// The end of a run's last line when --out keeps failures of benchmarks it did not run (they count
// in the exit status).
std::string kept_failures(const Results& r) {
  return r.kept_failed() ? fmt::format("; {} benchmark(s) kept from an earlier run (not planned now) did not pass", r.kept_failed()) : "";
}

// Whether every rank of the MPI job has the same `text` (53 bits of its hash, exact in a double).
bool same_everywhere(const std::string& text) {
  const double h = static_cast<double>(std::hash<std::string>{}(text) >> 11);
  return world().min(h) == world().max(h);
}

}  // namespace

const std::string& self_executable() {
  static const std::string path = [] {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) throw UsageError("cannot find this executable (/proc/self/exe)");
    std::string p(buf, static_cast<std::size_t>(n));
    // Replaced already (the build ID check then decides what runs there).
    if (constexpr std::string_view gone = " (deleted)"; p.size() > gone.size() && p.ends_with(gone)) p.resize(p.size() - gone.size());
    return p;
  }();
  return path;
}

int supervise(const std::vector<Planned>& requested, const RunOptions& opts) {
  // --out first: a file that cannot be written is found before anything is measured.
  std::optional<ResultsFile> file;
  std::string journal;
  if (!opts.out.empty()) {
    file.emplace(opts.out, opts.plugins);
    journal = file->journal();
  } else {
    const char* tmp = std::getenv("TMPDIR");
    journal = std::string(tmp && *tmp ? tmp : "/tmp") + "/primbench-XXXXXX.journal";
    const int fd = ::mkstemps(journal.data(), 8);
    if (fd < 0) throw UsageError("cannot create a journal in " + journal.substr(0, journal.rfind('/')) + ": " + std::strerror(errno));
    ::close(fd);
  }
  Resumed resumed = opts.resume ? resume_file(opts.out, requested, options_record(opts), cpu_model()) : Resumed{json::array(), requested, json()};
  const std::string stale = file ? file->stale_journal() : "";
  const std::size_t recovered = !stale.empty() && opts.resume ? merge_stale(stale, resumed, opts) : 0;
  Results results(opts, std::move(resumed.benchmarks), std::move(resumed.context));
  Saver saver(file ? &*file : nullptr, results);
  // What only the journal held is in --out before the journal goes (and before anything is
  // measured: a run killed in its ceilings, or one with nothing left to run, lost it).
  if (recovered) try {
      saver.save(true);
    } catch (const WriteError& e) {
      err(fmt::format("primbench: error: {}; the journal {} keeps the results only it holds: run the same command with "
                      "--resume once this is fixed\n", e.what(), stale));
      return kIncomplete;
    }
  if (!stale.empty()) file->forget_stale();
  const std::vector<Planned>& plan = resumed.todo;
  if (plan.empty()) {  // --resume with everything measured: the file stays as it is
    if (!opts.quiet) err("nothing to run: every planned benchmark already passed in " + opts.out + kept_failures(results) + "\n");
    if (file) file->finish();
    Output::get().drain(5);
    return results.status();
  }
  install_signals();
  RunOptions worker = opts;
  if (opts.timing) {
    const Ceilings c = measure_ceilings(opts, true);
    results.set_ceilings(c);
    worker.ceilings = c;
  }
  Console console(opts.quiet, plan.size());
  console.header();
  int status = kOk;
  std::string fatal;
  {
    Supervisor sup(worker, results, saver, console, journal);
    for (const Job& job : jobs(plan, opts)) sup.run(job);
    status = results.status();
    fatal = sup.fatal();
    if (sup.interrupted()) status = 128 + sup.interrupted();
    else if (!fatal.empty()) status = std::max(status, int(kIncomplete));
  }
  std::remove((journal + ".plan").c_str());
  bool written = !file.has_value();
  if (file) {
    try {
      saver.save(true);
      written = true;
    } catch (const WriteError& e) {
      if (fatal.empty()) fatal = e.what();
      status = std::max(status, int(kIncomplete));
    }
  }
  if (written) file ? file->finish() : (void)std::remove(journal.c_str());
  if (g_signal && status < 128) status = 128 + g_signal;  // arrived during the last write: still said
  if (!fatal.empty())
    err("primbench: error: " + fatal +
        (!file ? "" : written ? "; the results so far are in " + opts.out
                              : "; the last complete results are in " + opts.out + " and the journal " + journal +
                                    " keeps the rest: run the same command with --resume once this is fixed") + "\n");
  if (status > 128)
    err(fmt::format("primbench: interrupted by {}{}\n", signal_name(status - 128),
                    file ? fmt::format(": results so far written to {}; run the same command with --resume to finish", opts.out) : ""));
  else if (!opts.quiet)  // after a fatal error, where the results are is said above
    err(fmt::format("{} benchmarks, {}{}{}\n", plan.size(),
                    !fatal.empty()                                    ? "INCOMPLETE (the run ended early, above)"
                    : status == kOk || results.own_status() == kOk ? "all validated"
                                                                      : "SOME FAILED",
                    kept_failures(results), file && fatal.empty() ? "; results: " + opts.out : ""));
  Output::get().drain(std::min(opts.timeout, 5.0));
  return status;
}

int run_worker(const std::vector<Planned>& plan, const RunOptions& opts, const std::string& journal) {
  try {
    Journal j(journal);
    execute(plan, opts, [&](const json& line) { j.append(line); });
  } catch (const JournalError& e) {
    std::fprintf(stderr, "%s%s%s\n", kWorkerSays, kJournalFailed, e.what());
    return kIncomplete;
  }
  return kOk;
}

int run_in_mpi_job(const std::vector<Planned>& requested, const RunOptions& opts) {
  World& w = world();
  const bool leader = w.rank() == 0;
  std::optional<ResultsFile> file;
  std::string problem;
  if (leader && !opts.out.empty()) try {
      file.emplace(opts.out, opts.plugins);
    } catch (const UsageError& e) {
      problem = e.what();
    }
  if (std::string e = w.first_error(problem); !e.empty()) throw SharedUsageError(e);
  // One build and one set of options on every rank: the context names rank 0's.
  const json options = options_record(opts);
  if (!same_everywhere(build_id() + plugin_builds().dump()))
    throw SharedUsageError("the ranks of this MPI job run different builds of primbench or of its plugins (their build IDs "
                           "differ): put the same executable and plugins on every host");
  if (!same_everywhere(options.dump()))
    throw SharedUsageError("the ranks of this MPI job were given different options (" + options.dump() +
                           " on rank 0): give every rank the same command line");
  // Every rank plans the same, from --out alone: what only a killed run's journal (rank 0's) held
  // is written into --out first, as the earlier run's.
  std::string unwritten;
  if (file && opts.resume && !file->stale_journal().empty()) try {
      Resumed r = resume_file(opts.out, requested, options, cpu_model());
      if (merge_stale(file->stale_journal(), r, opts))
        file->write(json{{"context", r.context}, {"benchmarks", r.benchmarks}}.dump(2, ' ', false, json::error_handler_t::replace) + "\n", true);
    } catch (const UsageError& e) {
      problem = e.what();
    } catch (const WriteError& e) {
      unwritten = fmt::format("{}; the journal {} keeps the results only it holds: run the same command with --resume once "
                              "this is fixed", e.what(), file->stale_journal());
    }
  if (std::string e = w.first_error(problem); !e.empty()) throw SharedUsageError(e);
  if (std::string e = w.first_error(unwritten); !e.empty()) {
    if (leader) err("primbench: error: " + e + "\n");
    return kIncomplete;
  }
  Resumed resumed{json::array(), requested, json()};
  if (opts.resume) try {
      resumed = resume_file(opts.out, requested, options, cpu_model());
    } catch (const UsageError& e) {
      problem = e.what();
    }
  if (std::string e = w.first_error(problem); !e.empty()) throw SharedUsageError(e);
  std::string todo;
  for (const Planned& p : resumed.todo) todo += p.name + "\n";
  if (!same_everywhere(todo))
    throw SharedUsageError("--resume: the ranks of this MPI job read different files at '" + opts.out +
                           "' (is it on a file system every host shares?)");
  if (file && !file->stale_journal().empty()) file->forget_stale();
  Results results(opts, std::move(resumed.benchmarks), std::move(resumed.context));
  if (resumed.todo.empty()) {  // --resume with everything measured: the file stays as it is
    if (leader && !opts.quiet) err("nothing to run: every planned benchmark already passed in " + opts.out + kept_failures(results) + "\n");
    if (file) file->finish();
    Output::get().drain(5);
    return results.status();
  }
  Saver saver(file ? &*file : nullptr, results);
  Console console(opts.quiet || !leader, resumed.todo.size());
  console.header();
  std::optional<Journal> journal;
  if (file) journal.emplace(file->journal());
  RunOptions o = opts;
  o.supervised = false;
  if (opts.timing) {
    const Ceilings c = measure_ceilings(opts, leader);
    results.set_ceilings(c);
    o.ceilings = c;
  }
  std::size_t done = 0;  // this run's benchmarks so far
  try {
    execute(resumed.todo, o, [&](const json& line) {
      if (journal) journal->append(line);
      if (line.contains("context")) results.context(line["context"]);
      if (line.contains("start")) console.starting(done++, line["start"].get<std::string>());
      if (line.contains("done")) {
        results.add(line);
        console.row(line["done"].get<std::string>(), line["entries"], line.value("failure", ""));
        saver.maybe();
      }
    });
    if (file) saver.save(true), file->finish();
  } catch (const std::runtime_error& e) {  // JournalError, WriteError
    err(std::string("primbench: error: ") + e.what() + "\n");
    Output::get().drain(5);
    return kIncomplete;
  }
  const int status = static_cast<int>(w.max(results.status()));
  const bool own_ok = static_cast<int>(w.max(results.own_status())) == kOk;
  if (leader && !opts.quiet)
    err(fmt::format("{} benchmarks, {}{}{}\n", resumed.todo.size(), own_ok ? "all validated" : "SOME FAILED",
                    kept_failures(results), file ? "; results: " + opts.out : ""));
  Output::get().drain(5);
  return status;
}

}  // namespace primbench
