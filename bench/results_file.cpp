#include "results_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "selection.hpp"

namespace primbench {

namespace fs = std::filesystem;

namespace {
std::string why() { return std::strerror(errno); }

// Where writing `path` lands: through every symlink, existing target or not.
fs::path resolve(const std::string& path, const std::string& what) {
  fs::path p = fs::absolute(path);
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code ec;
    if (!fs::is_symlink(fs::symlink_status(p, ec))) return fs::weakly_canonical(p, ec);
    const fs::path to = fs::read_symlink(p, ec);
    if (ec) break;
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
  throw UsageError(what + " is a loop of symlinks");
}

// The journal's file name: hidden, next to the results, within NAME_MAX.
std::string journal_name(const std::string& file) {
  const std::string name = "." + file + ".primbench-journal";
  if (name.size() + 12 <= 255) return name;  // room for the ".plan" and temporaries beside it
  return fmt::format(".primbench-journal-{:016x}", std::hash<std::string>{}(file));
}
}  // namespace

ResultsFile::ResultsFile(const std::string& path, const std::vector<std::string>& plugins) : path_(path) {
  const std::string what = "--out '" + path + "'";
  if (path.find(".primbench-journal") != std::string::npos)
    throw UsageError(what + " is a name primbench keeps for its journals (choose another)");
  // The directory as written must exist ("missing/../r.json" is no more valid than the shell says).
  const fs::path given = fs::path(path).parent_path();
  struct stat st{};
  if (!given.empty() && ::stat(given.c_str(), &st) != 0)
    throw UsageError(what + ": directory '" + given.string() + "' does not exist (create it first)");
  const fs::path target = resolve(path, what);
  if (target.filename().empty()) throw UsageError(what + " is not a file name");
  // Through a symlink too: writing another run's journal would lose its results and lock nothing.
  if (target.filename().string().find(".primbench-journal") != std::string::npos)
    throw UsageError(what + " leads to '" + target.string() + "', a name primbench keeps for its journals (choose another)");
  target_ = target.string();
  dir_ = target.parent_path().string();
  if (::stat(dir_.c_str(), &st) != 0)
    throw UsageError(what + ": directory '" + dir_ + "' does not exist (create it first)");
  if (!S_ISDIR(st.st_mode)) throw UsageError(what + ": '" + dir_ + "' is not a directory");
  if (::stat(target_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw UsageError(what + " is a directory (expected a results file name)");
    if (!S_ISREG(st.st_mode))
      throw UsageError(what + " is not a regular file (a device, FIFO or socket); results are written only to regular files");
    if (::access(target_.c_str(), W_OK) != 0) throw UsageError(what + " is not writable: " + why());
    // The same file by any name or link: results written over a library the run has loaded.
    for (const std::string& plugin : plugins)
      if (struct stat lib{}; ::stat(plugin.c_str(), &lib) == 0 && lib.st_dev == st.st_dev && lib.st_ino == st.st_ino)
        throw UsageError(what + " is the plugin '" + plugin + "' (choose another --out)");
    // Or over primbench itself: its workers are this executable, started by its path.
    if (struct stat self{}; ::stat("/proc/self/exe", &self) == 0 && self.st_dev == st.st_dev && self.st_ino == st.st_ino)
      throw UsageError(what + " is primbench's own executable (choose another --out)");
  }
  // Root may write where the mode bits say no; a read-only file system or a full directory
  // says so only when a file is created.
  std::string probe = dir_ + "/.primbench-probe-XXXXXX";
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) throw UsageError(what + ": cannot create files in '" + dir_ + "': " + why());
  ::close(fd);
  ::unlink(probe.c_str());

  journal_ = dir_ + "/" + journal_name(target.filename().string());
  for (;;) {
    // Not through a symlink planted there: the journal is written and truncated.
    lock_ = ::open(journal_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (lock_ < 0 && errno == ELOOP)
      throw UsageError(what + ": its journal '" + journal_ + "' is a symlink (remove it; primbench writes only a file of its own there)");
    if (lock_ < 0) throw UsageError(what + ": cannot create its journal '" + journal_ + "': " + why());
    if (struct stat j{}; ::fstat(lock_, &j) != 0 || !S_ISREG(j.st_mode)) {
      ::close(lock_);
      throw UsageError(what + ": its journal '" + journal_ + "' is not a regular file (remove it)");
    }
    if (::flock(lock_, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_);
      throw UsageError("another primbench run is writing " + what + " (its journal '" + journal_ +
                       "' is locked); wait for it or choose another --out");
    }
    // The file locked must still be the one at that path (a run finishing unlinks it).
    struct stat held{}, now{};
    if (::fstat(lock_, &held) == 0 && ::stat(journal_.c_str(), &now) == 0 && held.st_ino == now.st_ino) break;
    ::close(lock_);
  }
  if (::fstat(lock_, &st) == 0 && st.st_size > 0) stale_ = journal_;
  // What a run killed outright (kill -9, a node lost) left beside its journal: its plan and a
  // half-written temporary (the lock says no run of this file is writing them).
  ::unlink((journal_ + ".plan").c_str());
  const std::string base = fs::path(journal_).filename().string();
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
    const std::string n = e.path().filename().string();  // base.XXXXXX.tmp, as write() names them
    if (n.size() == base.size() + 11 && n.rfind(base + ".", 0) == 0 && n.compare(n.size() - 4, 4, ".tmp") == 0)
      ::unlink(e.path().c_str());
  }
}

ResultsFile::~ResultsFile() {
  if (lock_ < 0) return;
  // A journal that holds nothing (a run refused after the lock was taken) is not left behind.
  struct stat held{}, now{};
  if (::fstat(lock_, &held) == 0 && held.st_size == 0 && ::stat(journal_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
      held.st_dev == now.st_dev)
    ::unlink(journal_.c_str());
  ::close(lock_);
}

void ResultsFile::forget_stale() {
  stale_.clear();
  if (::ftruncate(lock_, 0) != 0) throw UsageError("cannot empty the journal '" + journal_ + "': " + why());
}

void ResultsFile::write(const std::string& text, bool sync) {
  std::string tmp = journal_ + ".XXXXXX.tmp";
  const int fd = ::mkstemps(tmp.data(), 4);
  if (fd < 0) throw WriteError("cannot write results next to '" + path_ + "': " + why());
  struct stat st{};
  ::fchmod(fd, ::stat(target_.c_str(), &st) == 0 ? st.st_mode & 07777 : 0644);
  const char* p = text.data();
  std::size_t n = text.size();
  int err = 0;
  while (n > 0 && !err) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) err = w < 0 ? errno : ENOSPC;
    else p += w, n -= static_cast<std::size_t>(w);
  }
  if (!err && sync && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && !err) err = errno;
  if (!err && ::rename(tmp.c_str(), target_.c_str()) != 0) err = errno;
  if (err) {
    ::unlink(tmp.c_str());
    throw WriteError("cannot write results to '" + path_ + "': " + std::strerror(err));
  }
}

void ResultsFile::finish() {
  ::unlink(journal_.c_str());
}

}  // namespace primbench
