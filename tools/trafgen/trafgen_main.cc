// dmrswitch-trafgen: replays a pcap on one DPDK port at an offered rate and counts what comes
// back (tools/trafgen/README.md). One lcore (the main one) does everything: TX as the token
// bucket allows, then RX until the port is empty, and the loop again.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tools/trafgen/trafgen.h"

namespace {

using dmrswitch::trafgen::Options;
using dmrswitch::trafgen::Result;

constexpr unsigned kMbufs = 16383;  // 2^14 - 1
constexpr unsigned kMbufCache = 256;
constexpr uint16_t kDesc = 1024;
constexpr int kMaxRxBurstsPerLoop = 16;

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

int Fail(const std::string& msg) {
  std::fprintf(stderr, "dmrswitch-trafgen: %s\n", msg.c_str());
  return 1;
}

// Frames flattened into one array: frame i is bytes [off[i], off[i] + len[i]).
struct FrameSet {
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> off;
  std::vector<uint16_t> len;
};

// --latency: the TSC at which each slot's frame was last handed to the port (0: never).
struct LatencyClock {
  const dmrswitch::trafgen::LatencyIndex* index = nullptr;  // null without --latency
  std::vector<uint64_t> sent;
  double ns_per_cycle = 0;
};

// Receives one burst; returns how many packets arrived.
uint16_t RxOnce(uint16_t port, rte_mbuf** rx, uint16_t burst, Result* r, const LatencyClock& lc) {
  const uint16_t n = rte_eth_rx_burst(port, 0, rx, burst);
  const uint64_t now = lc.index != nullptr ? rte_rdtsc() : 0;
  for (uint16_t i = 0; i < n; ++i) {
    const uint8_t* f = rte_pktmbuf_mtod(rx[i], const uint8_t*);
    const size_t len = rte_pktmbuf_data_len(rx[i]);
    if (dmrswitch::trafgen::IsIpv4Frame(f, len)) {
      ++r->received;
    } else {
      ++r->rx_other;
    }
    if (lc.index != nullptr) {
      const int32_t slot = lc.index->Find(f, len);
      if (slot >= 0 && lc.sent[slot] != 0 && now >= lc.sent[slot]) {
        r->lat.Add(
            static_cast<uint64_t>(static_cast<double>(now - lc.sent[slot]) * lc.ns_per_cycle));
      } else {
        ++r->lat_unmatched;
      }
    }
  }
  if (n > 0) rte_pktmbuf_free_bulk(rx, n);
  return n;
}

int Run(const Options& o, const FrameSet& frames, LatencyClock& lc) {
  const uint16_t port = o.port;
  if (!rte_eth_dev_is_valid_port(port)) {
    return Fail("port " + std::to_string(port) + " does not exist: name it in the EAL arguments " +
                "(e.g. -- --vdev=net_memif0,role=client,socket=/tmp/dsw-memif.sock)");
  }
  rte_eth_dev_info info;
  if (rte_eth_dev_info_get(port, &info) != 0) return Fail("cannot read the port's device info");
  const int socket = rte_eth_dev_socket_id(port) < 0 ? 0 : rte_eth_dev_socket_id(port);
  rte_mempool* pool = rte_pktmbuf_pool_create("trafgen_mb", kMbufs, kMbufCache, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (pool == nullptr) {
    return Fail(std::string("cannot create the mbuf pool: ") + rte_strerror(rte_errno));
  }
  rte_eth_conf conf{};
  if (int rc = rte_eth_dev_configure(port, 1, 1, &conf); rc != 0) {
    return Fail(std::string("configure failed: ") + rte_strerror(-rc));
  }
  uint16_t rxd = kDesc, txd = kDesc;
  rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd);
  if (int rc = rte_eth_rx_queue_setup(port, 0, rxd, socket, nullptr, pool); rc != 0) {
    return Fail(std::string("RX queue setup failed: ") + rte_strerror(-rc));
  }
  if (int rc = rte_eth_tx_queue_setup(port, 0, txd, socket, nullptr); rc != 0) {
    return Fail(std::string("TX queue setup failed: ") + rte_strerror(-rc));
  }
  // A memif client fails to start until its server listens: retry within the link timeout.
  const uint64_t hz = rte_get_tsc_hz();
  const uint64_t link_deadline = rte_rdtsc() + static_cast<uint64_t>(o.link_timeout_s * hz);
  for (int rc; (rc = rte_eth_dev_start(port)) != 0;) {
    if (rte_rdtsc() > link_deadline || g_stop.load(std::memory_order_relaxed)) {
      return Fail(std::string("start failed: ") + rte_strerror(-rc));
    }
    rte_delay_ms(100);
  }
  rte_eth_promiscuous_enable(port);  // best effort
  rte_ether_addr mac;
  rte_eth_macaddr_get(port, &mac);
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  rte_eth_dev_get_name_by_port(port, name);
  std::fprintf(stderr,
               "dmrswitch-trafgen: port %u %s (%s) %02x:%02x:%02x:%02x:%02x:%02x, lcore %u, "
               "%zu frame(s), rate %.0f pps, %.3f s\n",
               port, name, info.driver_name, mac.addr_bytes[0], mac.addr_bytes[1],
               mac.addr_bytes[2], mac.addr_bytes[3], mac.addr_bytes[4], mac.addr_bytes[5],
               rte_lcore_id(), frames.len.size(), o.rate_pps, o.seconds);

  Result r;
  r.latency = lc.index != nullptr;
  lc.ns_per_cycle = 1e9 / static_cast<double>(hz);
  r.frames = frames.len.size();
  r.requested_pps = o.rate_pps;
  std::vector<rte_mbuf*> rx(o.burst), tx(o.burst);
  std::vector<bool> keyed(o.burst, false);  // --latency: which frames of the burst are DMRD

  // Link up (memif: the peer connected).
  for (;;) {
    rte_eth_link link{};
    rte_eth_link_get_nowait(port, &link);
    if (link.link_status == RTE_ETH_LINK_UP) break;
    if (rte_rdtsc() > link_deadline || g_stop.load(std::memory_order_relaxed)) {
      rte_eth_dev_stop(port);
      return Fail("the link did not come up within --link-timeout-s (is the peer running?)");
    }
    rte_delay_ms(10);
  }
  // Not flushed: a peer that saw the link first may have sent already, and that counts.
  rte_eth_stats_reset(port);
  std::fprintf(stderr, "dmrswitch-trafgen: link up, sending\n");

  const uint64_t start = rte_rdtsc();
  const uint64_t end = start + static_cast<uint64_t>(o.seconds * static_cast<double>(hz));
  dmrswitch::trafgen::TokenBucket bucket(o.rate_pps, hz, o.bucket, start);
  size_t next = 0;
  const size_t nframes = frames.len.size();
  uint64_t busy_cycles = 0, now = start;
  while (now < end && !g_stop.load(std::memory_order_relaxed)) {
    const uint64_t t0 = now;
    bool moved = false;
    if (!o.rx_only) {
      const uint32_t n = bucket.Take(now, o.burst);
      if (n > 0 && rte_pktmbuf_alloc_bulk(pool, tx.data(), n) == 0) {
        const uint64_t tx_tsc = lc.index != nullptr ? rte_rdtsc() : 0;
        for (uint32_t i = 0; i < n; ++i) {
          if (lc.index != nullptr) {
            const int32_t slot = lc.index->frame_slot(next);
            keyed[i] = slot >= 0;
            if (slot >= 0) lc.sent[slot] = tx_tsc;
          }
          rte_mbuf* m = tx[i];
          const uint16_t len = frames.len[next];
          rte_memcpy(rte_pktmbuf_mtod(m, uint8_t*), &frames.bytes[frames.off[next]], len);
          m->data_len = len;
          m->pkt_len = len;
          if (++next == nframes) next = 0;
        }
        const uint16_t sent = rte_eth_tx_burst(port, 0, tx.data(), static_cast<uint16_t>(n));
        r.sent += sent;
        if (lc.index != nullptr) {
          for (uint16_t i = 0; i < sent; ++i) r.lat_sent += keyed[i] ? 1 : 0;
        }
        if (sent < n) {
          // Refused frames count as offered and lost, but the replay goes on with them: the
          // hub must see every call's frames in order (a lost header or terminator would turn
          // the rest of the call into drops of their own).
          r.tx_failed += n - sent;
          rte_pktmbuf_free_bulk(&tx[sent], n - sent);
          next = (next + nframes - ((n - sent) % nframes)) % nframes;
        }
        moved = true;
      }
    }
    for (int b = 0; b < kMaxRxBurstsPerLoop; ++b) {
      if (RxOnce(port, rx.data(), o.burst, &r, lc) < o.burst) break;
      moved = true;
    }
    now = rte_rdtsc();
    if (moved) busy_cycles += now - t0;
  }
  r.seconds = static_cast<double>(now - start) / static_cast<double>(hz);
  r.busy = now > start ? static_cast<double>(busy_cycles) / static_cast<double>(now - start) : 0;
  // Egress still in flight (the hub's queues, the memif rings).
  const uint64_t drain_end = rte_rdtsc() + static_cast<uint64_t>(o.drain_ms * 1e-3 * hz);
  while (rte_rdtsc() < drain_end) RxOnce(port, rx.data(), o.burst, &r, lc);
  rte_eth_stats st{};
  if (rte_eth_stats_get(port, &st) == 0) r.rx_missed = st.imissed + st.rx_nombuf + st.ierrors;
  std::printf("%s\n", dmrswitch::trafgen::FormatResult(r).c_str());
  std::fflush(stdout);
  rte_eth_dev_stop(port);
  rte_eth_dev_close(port);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = dmrswitch::trafgen::ParseArgs(argc, argv);
  if (!opts.ok()) {
    std::fputs(std::string(opts.status().message()).c_str(), stderr);
    if (opts.status().message().back() != '\n') std::fputc('\n', stderr);
    return 2;
  }
  FrameSet frames;
  std::optional<dmrswitch::trafgen::LatencyIndex> index;
  LatencyClock lc;
  if (!opts->rx_only) {
    auto loaded = dmrswitch::trafgen::LoadPcapFrames(opts->pcap);
    if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
    if (opts->latency) {
      index.emplace(*loaded);
      lc.index = &*index;
      lc.sent.assign(index->slots(), 0);
    }
    for (const std::string& f : *loaded) {
      frames.off.push_back(static_cast<uint32_t>(frames.bytes.size()));
      frames.len.push_back(static_cast<uint16_t>(f.size()));
      frames.bytes.insert(frames.bytes.end(), f.begin(), f.end());
    }
  }
  std::vector<std::string> eal = dmrswitch::trafgen::CompleteEalArgs(opts->eal, getpid());
  std::vector<char*> eal_argv;
  for (std::string& s : eal) eal_argv.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    return Fail(std::string("EAL initialisation failed: ") + rte_strerror(rte_errno));
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  const int rc = Run(*opts, frames, lc);
  rte_eal_cleanup();
  rmdir(runtime_dir.c_str());  // EAL leaves /var/run/dpdk/PREFIX behind, empty without shconf
  return rc;
}
