#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <pcap/pcap.h>

#include "capdb/error.h"
#include "capdb/live.h"

namespace capdb {

namespace {

struct PcapCloser {
    void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};

struct BpfProgram {
    bpf_program prog{};
    ~BpfProgram() { pcap_freecode(&prog); }
};

struct DeviceListFreer {
    void operator()(pcap_if_t* list) const noexcept { pcap_freealldevs(list); }
};

// What to do about a refused capture: name the running binary, which may
// not be the capdb on $PATH (setcap also refuses a symbolic link).
std::string permission_hint() {
    std::string self(PATH_MAX, '\0');
    const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size());
    if (n <= 0)
        self = "$(command -v capdb)";
    else
        self.resize(static_cast<std::size_t>(n));
    const bool plain = self.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+") ==
                       std::string::npos;
    return fmt::format("run as root, or allow this binary to capture: sudo setcap cap_net_raw,cap_net_admin=eip {}",
                       plain || n <= 0 ? self : fmt::format("'{}'", printable(self)));
}

// Nanoseconds since the epoch from a libpcap timestamp whose fraction is in
// units of 1/ticks_per_sec (1e6 or 1e9), saturating beyond int64 range.
std::int64_t to_ns(const timeval& tv, std::int64_t ns_per_tick) noexcept {
    constexpr std::int64_t kNsPerSec = 1'000'000'000;
    std::int64_t ns = 0;
    if (__builtin_mul_overflow(static_cast<std::int64_t>(tv.tv_sec), kNsPerSec, &ns) ||
        __builtin_add_overflow(ns, static_cast<std::int64_t>(tv.tv_usec) * ns_per_tick, &ns))
        return tv.tv_sec < 0 ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
    return ns;
}

// libpcap's message for the last error on p, or a fallback when it has none.
std::string pcap_message(pcap_t* p, std::string_view fallback) {
    const char* msg = pcap_geterr(p);
    if (msg && *msg) return msg;
    return std::string(fallback);
}

}  // namespace

struct LiveCapture::Impl {
    std::string device;
    std::string shown;  // printable(device), quoted in messages
    std::string filter;
    std::unique_ptr<pcap_t, PcapCloser> pcap;
    std::vector<std::string> warnings;
    std::int64_t ns_per_tick = 1;
    int fd = -1;

    // State of one dispatch() call, read by the callback.
    const PacketHandler* handler = nullptr;
    std::uint32_t handed = 0;
    std::exception_ptr error;

    [[noreturn]] void fail(std::string_view what, Exit code = Exit::device) const {
        throw DeviceError(fmt::format("cannot capture on '{}': {}", shown, what), code);
    }
    // A failure after the capture started.
    [[noreturn]] void lost(std::string_view what) const {
        throw DeviceError(fmt::format("capture on '{}' failed: {}", shown, what));
    }

    // Maps pcap_activate's result to an exception or a warning.
    void check_activate(int rc) {
        pcap_t* p = pcap.get();
        if (rc == 0) return;
        if (rc > 0) {
            warnings.push_back(fmt::format("'{}': {}", shown, pcap_message(p, pcap_statustostr(rc))));
            return;
        }
        switch (rc) {
            case PCAP_ERROR_NO_SUCH_DEVICE: fail("no such interface; list them with 'capdb interfaces'");
            case PCAP_ERROR_PERM_DENIED:
                fail(fmt::format("permission denied ({}); {}", pcap_message(p, "not permitted"), permission_hint()),
                     Exit::permission);
            case PCAP_ERROR_PROMISC_PERM_DENIED:
                fail(fmt::format("no permission for promiscuous mode ({}); use --no-promisc, or {}",
                                 pcap_message(p, "not permitted"), permission_hint()),
                     Exit::permission);
            case PCAP_ERROR_IFACE_NOT_UP: fail("the interface is down");
            default: fail(pcap_message(p, pcap_statustostr(rc)));
        }
    }

    static void on_packet(u_char* user, const pcap_pkthdr* hdr, const u_char* data) noexcept {
        auto* self = reinterpret_cast<Impl*>(user);  // the pointer dispatch() passed in
        if (self->error) return;
        RawPacket raw;
        raw.ts_ns = to_ns(hdr->ts, self->ns_per_tick);
        raw.caplen = hdr->caplen;
        raw.wirelen = hdr->len;
        raw.data = {data, hdr->caplen};
        try {
            (*self->handler)(raw);
            ++self->handed;
        } catch (...) {
            // Never unwind through libpcap: stop the loop and rethrow after it.
            self->error = std::current_exception();
            pcap_breakloop(self->pcap.get());
        }
    }
};

LiveCapture::LiveCapture(const LiveOptions& o) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.device = o.device;
    m.shown = printable(o.device);
    m.filter = o.filter;
    if (o.device.empty()) throw UsageError("--live: empty interface name");
    if (o.snaplen < 1 || o.snaplen > kMaxSnaplen)
        throw UsageError(fmt::format("--snaplen must be between 1 and {}", kMaxSnaplen));
    if (o.buffer_size && (*o.buffer_size == 0 || *o.buffer_size > static_cast<std::uint32_t>(INT_MAX)))
        throw UsageError(fmt::format("--buffer-size must be between 1 and {} bytes", INT_MAX));

    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_create(o.device.c_str(), errbuf);
    if (!p) m.fail(errbuf[0] ? errbuf : "pcap_create failed");
    m.pcap.reset(p);

    // Setting options on a fresh handle fails only for an already activated one.
    pcap_set_snaplen(p, static_cast<int>(o.snaplen));
    pcap_set_promisc(p, o.promisc ? 1 : 0);
    // A buffer timeout rather than immediate mode: on Linux it keeps libpcap's
    // TPACKET_V3 block ring (one wakeup per block, not per packet) while
    // bounding how long a packet waits to be read.
    pcap_set_timeout(p, static_cast<int>(o.buffer_timeout.count()));
    if (o.buffer_size) pcap_set_buffer_size(p, static_cast<int>(*o.buffer_size));
    const bool nano = pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == 0;
    if (!nano) pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_MICRO);

    m.check_activate(pcap_activate(p));
    m.ns_per_tick = pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO ? 1 : 1000;

    if (!o.filter.empty()) {
        bpf_u_int32 net = 0, mask = 0;
        if (pcap_lookupnet(o.device.c_str(), &net, &mask, errbuf) != 0) mask = PCAP_NETMASK_UNKNOWN;
        BpfProgram prog;
        if (pcap_compile(p, &prog.prog, o.filter.c_str(), 1, mask) != 0)
            throw DeviceError(fmt::format("bad filter '{}' for '{}': {}", printable(o.filter), m.shown,
                                          pcap_message(p, "does not compile")));
        if (pcap_setfilter(p, &prog.prog) != 0)
            m.fail(fmt::format("cannot install filter '{}': {}", printable(o.filter), pcap_message(p, "failed")));
    }
    if (pcap_setnonblock(p, 1, errbuf) != 0) m.fail(fmt::format("cannot set non-blocking mode: {}", errbuf));
    m.fd = pcap_get_selectable_fd(p);
}

LiveCapture::~LiveCapture() = default;

const std::vector<std::string>& LiveCapture::warnings() const noexcept { return impl_->warnings; }
const std::string& LiveCapture::device() const noexcept { return impl_->device; }
const std::string& LiveCapture::filter() const noexcept { return impl_->filter; }
std::uint32_t LiveCapture::linktype() const noexcept {
    return static_cast<std::uint32_t>(pcap_datalink(impl_->pcap.get()));
}
std::uint32_t LiveCapture::snaplen() const noexcept {
    return static_cast<std::uint32_t>(pcap_snapshot(impl_->pcap.get()));
}

bool LiveCapture::wait(std::chrono::milliseconds timeout) {
    const int ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, timeout.count()));
    if (impl_->fd < 0) {
        // No selectable descriptor on this platform: sleep, then try a read.
        ::poll(nullptr, 0, std::min(ms, 10));
        return true;
    }
    pollfd pfd{impl_->fd, POLLIN, 0};
    const int rc = ::poll(&pfd, 1, ms);
    if (rc < 0 && errno != EINTR) impl_->lost(fmt::format("poll: {}", std::strerror(errno)));
    if (rc <= 0) return false;
    // In non-blocking mode libpcap's read does not look for these: report
    // them as its blocking read would.
    if (pfd.revents & POLLERR) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(impl_->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err == ENETDOWN) impl_->lost("the interface went down");
        if (err != 0) impl_->lost(std::strerror(err));
    }
    if (pfd.revents & POLLHUP) impl_->lost("the interface disappeared");
    if (pfd.revents & POLLNVAL) impl_->lost("the capture descriptor is no longer valid");
    return true;
}

std::uint32_t LiveCapture::dispatch(std::uint32_t max_packets, const PacketHandler& on_packet) {
    Impl& m = *impl_;
    if (max_packets == 0) return 0;
    m.handler = &on_packet;
    m.handed = 0;
    m.error = nullptr;
    const int cnt = static_cast<int>(std::min<std::uint32_t>(max_packets, INT_MAX));
    const int rc = pcap_dispatch(m.pcap.get(), cnt, &Impl::on_packet, reinterpret_cast<u_char*>(&m));
    m.handler = nullptr;
    if (m.error) std::rethrow_exception(std::exchange(m.error, nullptr));
    if (rc == PCAP_ERROR) m.lost(pcap_message(m.pcap.get(), "read failed"));
    return m.handed;
}

LiveStats LiveCapture::stats() {
    pcap_stat st{};
    if (pcap_stats(impl_->pcap.get(), &st) != 0) return {};
    return LiveStats{st.ps_recv, st.ps_drop, st.ps_ifdrop};
}

// ---------------------------------------------------------------------------
// Interfaces

std::vector<InterfaceInfo> list_interfaces() {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_if_t* raw = nullptr;
    if (pcap_findalldevs(&raw, errbuf) != 0) throw DeviceError(fmt::format("cannot list interfaces: {}", errbuf));
    std::unique_ptr<pcap_if_t, DeviceListFreer> list(raw);
    std::vector<InterfaceInfo> out;
    for (const pcap_if_t* d = list.get(); d; d = d->next) {
        InterfaceInfo i;
        i.name = d->name ? d->name : "";
        i.description = d->description ? d->description : "";
        i.loopback = (d->flags & PCAP_IF_LOOPBACK) != 0;
        i.up = (d->flags & PCAP_IF_UP) != 0;
        i.running = (d->flags & PCAP_IF_RUNNING) != 0;
        i.wireless = (d->flags & PCAP_IF_WIRELESS) != 0;
        switch (d->flags & PCAP_IF_CONNECTION_STATUS) {
            case PCAP_IF_CONNECTION_STATUS_UNKNOWN: i.connection = InterfaceInfo::Connection::unknown; break;
            case PCAP_IF_CONNECTION_STATUS_CONNECTED: i.connection = InterfaceInfo::Connection::connected; break;
            case PCAP_IF_CONNECTION_STATUS_DISCONNECTED: i.connection = InterfaceInfo::Connection::disconnected; break;
            default: i.connection = InterfaceInfo::Connection::not_applicable; break;
        }
        out.push_back(std::move(i));
    }
    return out;
}

std::string describe_interface(const InterfaceInfo& i) {
    using C = InterfaceInfo::Connection;
    std::string out = printable(i.name);
    if (!i.description.empty()) out += fmt::format(" ({})", printable(i.description));
    // As tcpdump: the bracket appears when libpcap reported any flag bit, and
    // a connection status of "unknown" is the all-zero value.
    if (!(i.up || i.running || i.loopback || i.wireless || i.connection != C::unknown)) return out;
    std::string flags;
    auto add = [&](bool on, std::string_view word) {
        if (!on) return;
        if (!flags.empty()) flags += ", ";
        flags += word;
    };
    add(i.up, "Up");
    add(i.running, "Running");
    add(i.loopback, "Loopback");
    add(i.wireless, "Wireless");
    if (flags.empty()) flags = "none";
    switch (i.connection) {
        case C::unknown: flags += i.wireless ? ", Association status unknown" : ", Connection status unknown"; break;
        case C::connected: flags += i.wireless ? ", Associated" : ", Connected"; break;
        case C::disconnected: flags += i.wireless ? ", Not associated" : ", Disconnected"; break;
        case C::not_applicable: break;
    }
    return out + " [" + flags + "]";
}

}  // namespace capdb
