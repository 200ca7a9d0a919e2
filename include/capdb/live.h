// Live capture from a network interface through libpcap. Like capture.h, the
// implementation (capture/live_capture.cc) is the only other file that
// includes pcap.h.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capdb/batch.h"
#include "capdb/capture.h"
#include "capdb/store.h"

namespace capdb {

inline constexpr std::uint32_t kDefaultSnaplen = 262144;  // as tcpdump; also the largest accepted
inline constexpr std::uint32_t kMaxSnaplen = 262144;

struct LiveOptions {
    std::string device;                       // interface name; "any" captures on all
    std::string filter;                       // BPF expression as tcpdump takes it; empty: everything
    std::uint32_t snaplen = kDefaultSnaplen;  // 1..kMaxSnaplen bytes kept per packet
    bool promisc = true;
    std::optional<std::uint32_t> buffer_size;  // kernel capture buffer in bytes; libpcap's default (2 MiB) if unset
    std::chrono::milliseconds buffer_timeout{100};  // longest a packet waits in the kernel buffer
};

// An open, activated capture handle with its filter installed, in
// non-blocking mode. Throws DeviceError naming the interface: Exit::device for
// a missing interface, an interface that is down or a filter that does not
// compile, Exit::permission when the process may not capture; UsageError for
// options out of range. Packets that reached the kernel buffer before the
// filter was installed are filtered too (libpcap does it in user space).
class LiveCapture {
public:
    explicit LiveCapture(const LiveOptions& options);
    ~LiveCapture();
    LiveCapture(const LiveCapture&) = delete;
    LiveCapture& operator=(const LiveCapture&) = delete;

    // libpcap's warnings from activation (promiscuous mode not supported, ...),
    // each a sentence naming the interface; empty when there were none.
    [[nodiscard]] const std::vector<std::string>& warnings() const noexcept;
    [[nodiscard]] const std::string& device() const noexcept;
    [[nodiscard]] const std::string& filter() const noexcept;
    [[nodiscard]] std::uint32_t linktype() const noexcept;  // DLT
    [[nodiscard]] std::uint32_t snaplen() const noexcept;

    // Waits until packets may be ready (true: call dispatch()), the timeout
    // passes or a signal interrupts the wait (false). Throws DeviceError when
    // the interface went down or disappeared.
    bool wait(std::chrono::milliseconds timeout);

    // Hands up to max_packets packets that are ready (without blocking) to
    // on_packet and returns how many it handed. The packet's data is valid
    // only during the call. Throws DeviceError naming the interface when the
    // capture fails (the interface went down or disappeared).
    using PacketHandler = std::function<void(const RawPacket&)>;
    std::uint32_t dispatch(std::uint32_t max_packets, const PacketHandler& on_packet);

    // Counters since activation (pcap_stats; libpcap's 32-bit counters wrap).
    [[nodiscard]] LiveStats stats();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// One capture device as `tcpdump -D` lists it.
struct InterfaceInfo {
    enum class Connection { unknown, connected, disconnected, not_applicable };
    std::string name;
    std::string description;  // may be empty
    bool up = false;
    bool running = false;
    bool loopback = false;
    bool wireless = false;
    Connection connection = Connection::not_applicable;
};

// The devices libpcap can capture on, in its order. Throws DeviceError.
std::vector<InterfaceInfo> list_interfaces();

// "eth0 [Up, Running, Connected]", "any (Pseudo-device ...) [Up, Running]":
// what tcpdump -D prints after the number, with name and description passed
// through printable().
std::string describe_interface(const InterfaceInfo& info);

// ---------------------------------------------------------------------------
// Live ingest

struct LiveIngestOptions {
    std::uint32_t batch = kDefaultCommitPackets;       // packets per committed batch
    std::uint32_t preview_bytes = 16;                  // bytes of each frame kept as preview
    std::optional<std::chrono::nanoseconds> duration;  // stop after this long
    std::optional<std::uint64_t> count;                // stop after this many packets
    // Longest a captured packet waits before it is committed: a commit is
    // requested (CaptureWriter::request_commit) this often while packets
    // arrive; it follows within milliseconds on the storage thread.
    std::chrono::milliseconds flush_interval{500};
    // Decoded packets waiting for storage are held in memory up to this many
    // bytes (PacketBatch::bytes(): about 100 bytes a packet with 16-byte
    // previews in full batches), so that a slow commit does not stop the
    // reading of packets; beyond it the kernel buffer fills and the kernel
    // drops.
    std::size_t queue_bytes = kDefaultQueueBytes;
    // Keep whole packets (up to the snaplen) in the packet store; false
    // (--no-packets): summaries only.
    bool keep_packets = true;
    std::function<bool()> should_stop;  // polled at least every 100 ms; true ends the capture
};

struct LiveOutcome {
    CaptureId capture = 0;
    PacketCounts counts;  // packets captured and stored
    LiveStats stats;      // from libpcap at the end
};

// Captures from capture into store until should_stop, the duration or the
// count, then commits every captured packet and marks the capture complete
// with libpcap's statistics. capture is read on the calling thread; the
// store's writer commits on a thread of its own (see live_ingest.cc). The capture row is created only here, after the
// handle is open and filtered, so a device error leaves no row behind. Throws
// DeviceError when the capture fails mid-way (the packets before it are
// committed and the capture is marked failed) and DatabaseError for storage
// failures.
LiveOutcome ingest_live(Store& store, LiveCapture& capture, const LiveIngestOptions& options);

}  // namespace capdb
