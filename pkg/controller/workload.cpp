#include <kle/controller/workload.hpp>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <string_view>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

extern char** environ;  // NOLINT(readability-redundant-declaration): posix_spawnp needs it

namespace asio = boost::asio;

namespace kle::controller {
namespace {

int shell_status(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return 1;
}

// The inherited environment without the variables `extra` sets, then `extra`: a controller
// started with a stale KLE_EPOCH in its own environment must not pass it on twice.
std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  const auto name_of = [](std::string_view entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const bool replaced = std::any_of(extra.begin(), extra.end(),
                                      [&](const std::string& x) { return name_of(x) == name_of(entry); });
    if (!replaced) out.emplace_back(entry);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

// CMD gets stdin, stdout and stderr and nothing else: the HTTP listening socket and the API
// connections are not close-on-exec (Asio opens sockets without SOCK_CLOEXEC), and a child
// holding them keeps the port bound and connections open after we exit or lose leadership.
// glibc closes the rest in the child between fork and exec (close_range, or /proc/self/fd),
// so nothing that is not async-signal-safe runs there.
int spawn_closing_fds(pid_t& pid, std::vector<char*>& args, std::vector<char*>& env) {
  posix_spawn_file_actions_t actions;
  if (const int rc = ::posix_spawn_file_actions_init(&actions); rc != 0) return rc;
  int rc = ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (rc == 0) rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), env.data());
  ::posix_spawn_file_actions_destroy(&actions);
  return rc;
}

// argv/envp for posix_spawnp: pointers into `strings`, which must outlive them, then null.
std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::vector<std::string> leader_env(std::int64_t epoch, const std::string& identity, const std::string& lease,
                                    const std::string& ns) {
  return {"KLE_EPOCH=" + std::to_string(epoch), "KLE_IDENTITY=" + identity, "KLE_LEASE=" + lease,
          "KLE_NAMESPACE=" + ns};
}

Workload::Workload(const asio::any_io_executor& ex, std::vector<std::string> argv, std::chrono::milliseconds grace,
                   log::Logger log)
    : ex_(ex), argv_(std::move(argv)), grace_(grace), log_(std::move(log)),
      sigchld_(ex, SIGCHLD),
      grace_timer_(ex),
      exited_(ex, asio::steady_timer::time_point::max()) {
  asio::co_spawn(ex_, reap_loop(), asio::detached);
}

Workload::~Workload() { close(); }

void Workload::close() {
  if (*closed_) return;
  *closed_ = true;
  restart_pending_ = false;
  boost::system::error_code ignored;
  sigchld_.cancel(ignored);
  grace_timer_.cancel();
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);  // never leave an orphan running as "leader"
    pid_ = -1;
    exited_.cancel();  // a stop() still waiting must not wait for a reap that never comes
  }
}

bool Workload::start(std::vector<std::string> env) {
  if (argv_.empty() || *closed_) return false;
  env_ = std::move(env);
  if (pid_ <= 0) return spawn();
  if (stopping_ && !restart_pending_) {
    restart_pending_ = true;
    log_.info("workload is still stopping; it starts again once it has exited", {{"pid", pid_}});
  }
  return true;
}

bool Workload::spawn() {
  std::vector<char*> args = c_strings(argv_);
  std::vector<std::string> environment = merged_environment(env_);
  std::vector<char*> envp = c_strings(environment);
  pid_t pid = 0;
  const int rc = spawn_closing_fds(pid, args, envp);
  if (rc != 0) {
    log_.error("workload could not be started", {{"command", argv_[0]}, {"error", std::strerror(rc)}});
    // A leader that cannot run its workload must not sit on the lease: report it like a
    // shell reports a command it cannot run (127), so the controller exits and releases.
    if (on_unexpected_exit_) on_unexpected_exit_(127);
    return false;
  }
  pid_ = pid;
  stopping_ = false;
  log_.info("workload started", {{"command", argv_[0]}, {"pid", pid_}});
  return true;
}

void Workload::forward(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

bool Workload::hurry() {
  if (!stopping_ || pid_ <= 0) return false;
  grace_timer_.cancel();  // stop() resumes and sends SIGKILL
  return true;
}

asio::awaitable<void> Workload::stop() {
  restart_pending_ = false;
  if (pid_ <= 0) co_return;
  const int child = pid_;
  if (stopping_) {  // another stop() owns the escalation; don't restart (and so cut) its grace
    co_await wait_exit(child);
    co_return;
  }
  stopping_ = true;
  log_.info("stopping workload", {{"pid", child}, {"grace_ms", grace_.count()}});
  ::kill(child, SIGTERM);
  grace_timer_.expires_after(grace_);
  boost::system::error_code ec;
  co_await grace_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (pid_ == child) {
    log_.warn("workload ignored SIGTERM; killing it", {{"pid", child}});
    ::kill(child, SIGKILL);
    co_await wait_exit(child);
  }
}

// Compares PIDs, not "is anything running": a pending restart may already have spawned the
// next child by the time this waiter resumes.
asio::awaitable<void> Workload::wait_exit(int pid) {
  while (pid_ == pid) {
    boost::system::error_code ec;
    co_await exited_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void Workload::reap() {
  int wstatus = 0;
  while (pid_ > 0) {
    const pid_t done = ::waitpid(pid_, &wstatus, WNOHANG);
    if (done == 0) return;  // SIGCHLD was for another child (or a stop/continue)
    if (done < 0 && errno == EINTR) continue;
    const int status = done > 0 ? shell_status(wstatus) : 1;
    log_.info("workload exited", {{"pid", pid_}, {"status", status}});
    pid_ = -1;
    last_status_ = status;
    grace_timer_.cancel();
    exited_.cancel();
    if (restart_pending_) {
      restart_pending_ = false;
      log_.info("restarting workload: leadership was regained while it stopped", {});
      spawn();
    } else if (!stopping_ && on_unexpected_exit_) {
      on_unexpected_exit_(status);
    }
  }
}

// Ends on close(). Reads only its own copy of the flag before reap(): it may resume after
// the destructor has run.
asio::awaitable<void> Workload::reap_loop() {
  const std::shared_ptr<bool> closed = closed_;
  for (;;) {
    boost::system::error_code ec;
    co_await sigchld_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || *closed) co_return;
    reap();
  }
}

}  // namespace kle::controller
