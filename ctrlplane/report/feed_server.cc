#include "ctrlplane/report/feed_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"

namespace dmrswitch::cp::report {
namespace {

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One dashboard connection: what is still to be written, and what it sent us.
struct Connection {
  int fd = -1;
  std::string out;  // pending bytes, from out_offset on
  size_t out_offset = 0;
  std::string in;       // unconsumed input (requests)
  bool drop = false;    // exceeded its buffer bound
  bool closed = false;  // EOF or error
  size_t pending() const { return out.size() - out_offset; }
};

}  // namespace

FeedServer::FeedServer(FeedServerOptions options, std::unique_ptr<FeedFormat> format)
    : options_(std::move(options)), format_(std::move(format)), queue_(options_.queue_capacity) {}

absl::StatusOr<std::unique_ptr<FeedServer>> FeedServer::Start(FeedServerOptions options,
                                                              std::unique_ptr<FeedFormat> format) {
  if (!format) return absl::InvalidArgumentError("report " + options.name + ": no format");
  std::unique_ptr<FeedServer> server(new FeedServer(std::move(options), std::move(format)));
  const FeedServerOptions& o = server->options_;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(o.port);
  if (inet_pton(AF_INET, o.bind_address.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "report %s: bind address '%s' is not an IPv4 address", o.name, o.bind_address));
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("report " + o.name + ": socket: " + strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 16) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrFormat("report %s: cannot listen on %s:%d: %s", o.name,
                                                  o.bind_address, o.port, strerror(err)));
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  server->listen_fd_ = fd;
  server->port_ = ntohs(addr.sin_port);
  server->thread_ = std::thread([s = server.get()] { s->Run(); });
  return server;
}

FeedServer::~FeedServer() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

bool FeedServer::Publish(ReportEvent event) { return queue_.TryPush(std::move(event)); }

void FeedServer::SetState(std::shared_ptr<const HubState> state) {
  state_.store(std::move(state));
  state_version_.fetch_add(1, std::memory_order_release);
}

FeedServerStats FeedServer::stats() const {
  FeedServerStats s;
  s.events_published = queue_.pushed();
  s.events_dropped = queue_.dropped();
  s.messages_sent = counters_.messages_sent.load();
  s.bytes_sent = counters_.bytes_sent.load();
  s.snapshots_sent = counters_.snapshots_sent.load();
  s.connections_accepted = counters_.connections_accepted.load();
  s.connections_refused = counters_.connections_refused.load();
  s.connections_dropped = counters_.connections_dropped.load();
  s.connections_closed = counters_.connections_closed.load();
  s.connections = counters_.connections.load();
  s.trimmed = counters_.trimmed.load();
  return s;
}

void FeedServer::Run() {
  using Clock = std::chrono::steady_clock;
  std::vector<Connection> conns;
  std::shared_ptr<const HubState> state;
  uint64_t seen_version = 0;
  bool state_changed = false;
  Clock::time_point last_snapshot = Clock::now();
  std::vector<std::string> messages;
  std::vector<pollfd> fds;

  auto enqueue = [&](Connection& c, const std::string& m) {
    if (c.drop || c.closed) return;
    if (c.pending() + m.size() > options_.max_buffered_bytes) {
      c.drop = true;  // it stopped reading: drop it rather than grow without bound
      return;
    }
    if (c.out_offset > 0 && c.out_offset == c.out.size()) {
      c.out.clear();
      c.out_offset = 0;
    }
    c.out += m;
    counters_.messages_sent.fetch_add(1, std::memory_order_relaxed);
  };
  auto snapshot_to = [&](Connection& c) {
    if (!state) return;
    messages.clear();
    format_->Snapshot(*state, NowUnixNs(), &messages);
    for (const std::string& m : messages) enqueue(c, m);
    counters_.snapshots_sent.fetch_add(1, std::memory_order_relaxed);
  };

  while (!stop_.load(std::memory_order_relaxed)) {
    fds.clear();
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Connection& c : conns) {
      fds.push_back({c.fd, static_cast<short>(POLLIN | (c.pending() ? POLLOUT : 0)), 0});
    }
    poll(fds.data(), fds.size(), static_cast<int>(options_.poll_interval.count()));

    // New state first, so a dashboard that connects now gets the newest picture.
    uint64_t version = state_version_.load(std::memory_order_acquire);
    if (version != seen_version) {
      seen_version = version;
      state = state_.load();
      if (state) format_->UpdateState(*state);
      state_changed = true;
    }

    const size_t polled = conns.size();  // fds[i + 1] belongs to conns[i] for i < polled
    if (fds[0].revents & POLLIN) {
      while (true) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (conns.size() >= options_.max_connections) {
          counters_.connections_refused.fetch_add(1, std::memory_order_relaxed);
          close(fd);
          continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conns.emplace_back();
        conns.back().fd = fd;
        counters_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
        snapshot_to(conns.back());
      }
    }

    // Reads: requests (HBlink's CONFIG_REQ) and EOF. Input is bounded: a dashboard has nothing
    // long to say.
    for (size_t i = 0; i < polled; ++i) {
      if (!(fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Connection& c = conns[i];
      char buf[4096];
      ssize_t n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        c.closed = true;
        continue;
      }
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (c.in.size() > 4096) c.in.clear();
        if (format_->ClientInput(&c.in)) snapshot_to(c);
      }
    }

    // Events, in order. Formatted once, queued to every connection.
    while (auto event = queue_.TryPop()) {
      if (conns.empty()) {
        // Still let the format learn logins (system assignment), but format nothing.
        if (std::holds_alternative<ClientEvent>(*event)) {
          messages.clear();
          format_->Event(*event, &messages);
        }
        continue;
      }
      messages.clear();
      format_->Event(*event, &messages);
      for (Connection& c : conns) {
        for (const std::string& m : messages) enqueue(c, m);
      }
    }

    // Periodic snapshots, and soon after a state change.
    auto now = Clock::now();
    if (now - last_snapshot >= options_.snapshot_interval ||
        (state_changed && now - last_snapshot >= options_.min_snapshot_interval)) {
      last_snapshot = now;
      state_changed = false;
      if (state && !conns.empty()) {
        // Formatted once for everyone: a 10,000-client snapshot is not cheap.
        messages.clear();
        format_->Snapshot(*state, NowUnixNs(), &messages);
        for (Connection& c : conns) {
          for (const std::string& m : messages) enqueue(c, m);
          counters_.snapshots_sent.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    counters_.trimmed.store(format_->trimmed(), std::memory_order_relaxed);

    // Writes, as much as each socket takes.
    for (Connection& c : conns) {
      while (c.pending() && !c.drop && !c.closed) {
        ssize_t n =
            send(c.fd, c.out.data() + c.out_offset, c.pending(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
          c.out_offset += static_cast<size_t>(n);
          counters_.bytes_sent.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        } else {
          if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) c.closed = true;
          break;
        }
      }
      if (!c.pending() && c.out_offset > (1 << 16)) {
        c.out.clear();
        c.out_offset = 0;
      }
    }

    // Retire dropped and closed connections.
    for (size_t i = 0; i < conns.size();) {
      Connection& c = conns[i];
      if (c.drop || c.closed) {
        (c.drop ? counters_.connections_dropped : counters_.connections_closed)
            .fetch_add(1, std::memory_order_relaxed);
        close(c.fd);
        conns[i] = std::move(conns.back());
        conns.pop_back();
      } else {
        ++i;
      }
    }
    counters_.connections.store(conns.size(), std::memory_order_relaxed);
  }
  for (Connection& c : conns) close(c.fd);
  counters_.connections.store(0);
}

}  // namespace dmrswitch::cp::report
