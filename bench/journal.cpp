#include "journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace primbench {

Journal::Journal(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw JournalError("cannot open the journal '" + path + "': " + std::strerror(errno));
  // Far from the low numbers an implementation might write to or close by mistake.
  fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 700);
  if (fd_ < 0) fd_ = fd;
  else ::close(fd);
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {
std::mutex g_appending;  // held while a line is written; for good once sealed

// A line as written, or, after stray bytes from someone else on the same file, the last object
// that starts within it with a key a journal line starts with. Only such starts are tried, a few
// at most: trying every `{"` reparsed the rest of the line each time, and a line of 20,000
// `{"a":[` took the supervisor 43 s.
nlohmann::json parse_line(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_object()) return j;
  static constexpr std::string_view kFirstKeys[] = {"{\"context\":", "{\"worker\":", "{\"start\":", "{\"phase\":",
                                                    "{\"done\":",    "{\"finished\":", "{\"run\":", "{\"supervisor\":"};
  int tries = 0;
  for (std::size_t at = line.rfind("{\""); at != std::string_view::npos && at > 0 && tries < 8; at = line.rfind("{\"", at - 1)) {
    const std::string_view from = line.substr(at);
    if (std::none_of(std::begin(kFirstKeys), std::end(kFirstKeys), [&](std::string_view k) { return from.starts_with(k); }))
      continue;
    ++tries;
    j = nlohmann::json::parse(from, nullptr, false);
    if (j.is_object()) return j;
  }
  return nullptr;
}
}  // namespace

void Journal::seal() { g_appending.lock(); }

void Journal::append(const nlohmann::json& line) {
  // Invalid UTF-8 in a message (an implementation's exception text) is replaced, not fatal.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::lock_guard<std::mutex> one_at_a_time(g_appending);
  const char* p = text.data();
  std::size_t n = text.size();
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw JournalError("cannot append to the journal '" + path_ + "': " + std::strerror(w < 0 ? errno : ENOSPC));
    p += w, n -= static_cast<std::size_t>(w);
  }
}

std::vector<nlohmann::json> JournalReader::read_new() {
  std::vector<nlohmann::json> lines;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lines;
  struct stat st{};
  if (::fstat(fd, &st) == 0 && (st.st_ino != inode_ || st.st_size < offset_)) {
    // Replaced or truncated under us: read the new file from its start.
    if (inode_ != 0) offset_ = 0, partial_.clear();
    inode_ = st.st_ino;
  }
  char buf[1 << 16];
  for (;;) {
    const ssize_t k = ::pread(fd, buf, sizeof buf, offset_);
    if (k <= 0) break;
    offset_ += k;
    partial_.append(buf, static_cast<std::size_t>(k));
  }
  ::close(fd);
  std::size_t begin = 0;
  for (std::size_t nl; (nl = partial_.find('\n', begin)) != std::string::npos; begin = nl + 1) {
    nlohmann::json j = parse_line(std::string_view(partial_).substr(begin, nl - begin));
    if (j.is_object()) lines.push_back(std::move(j));  // a torn line (a crash mid-write) is skipped
  }
  partial_.erase(0, begin);
  return lines;
}

}  // namespace primbench
