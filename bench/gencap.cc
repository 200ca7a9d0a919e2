// capdb-gencap: fast, deterministic generator of a realistic classic pcap
// for the benchmarks.
//
//   capdb-gencap --packets N [--seed S] [--start EPOCH] [--pps RATE]
//                [--hosts-json FILE] -o FILE
//
// Output: classic pcap, nanosecond magic (0xa1b23c4d) in host byte order,
// LINKTYPE_ETHERNET, snaplen 65535, every frame captured whole (caplen == len,
// 60..1514 bytes; short frames are zero-padded to the Ethernet minimum).
//
// Traffic model. Hosts: 20,000 IPv4 (10.0.0.0/8 and 192.168.0.0/16) and
// 2,000 IPv6 (2001:db8::/32), each flow's two endpoints drawn from a Zipf
// distribution (s = 1.1) over a shuffled rank order. Each packet first picks a
// traffic class by its packet share (TCPv4, UDPv4, ICMPv4 echo, TCPv6, UDPv6,
// ARP), then one of that class's concurrent flow slots at random; an empty
// slot starts a new flow. About 600 flows are live at any time, so a flow's
// (and a host's) packets are spread over an interval and interleaved with
// others, as in a real trace. TCP flows do the 3-way handshake, then
// request/response rounds with sequence and acknowledgement numbers advancing
// by the payload length (full-MSS segments, delayed ACKs), then a FIN
// exchange. UDP is DNS (well-formed A/AAAA query and answer to port 53) and
// streams between random high ports. A few flows carry an 802.1Q tag.
// Timestamps advance by exponentially distributed gaps, mean 1/--pps.
//
// Checksums: IPv4 header, TCP, UDP and ICMP checksums are all computed, so
// tcpdump -vv and tshark with checksum validation see no errors.
//
// Determinism: all randomness comes from one xoshiro256** generator seeded
// from --seed, so the same arguments give a byte-identical file on the same
// platform (the Zipf table and the jitter use std::pow/std::log, whose last
// bit could in principle differ between C libraries).
//
// stderr gets a one-line summary with hosts useful for benchmarking queries
// (one with ~0.1% of the packets, one with ~1%, and that host's busiest
// port); --hosts-json writes the same values, and a few more, as JSON.

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_set>
#include <vector>

#include <fmt/core.h>
#include <fmt/format.h>

namespace {

// ---------------------------------------------------------------------------
// Constants of the file format and the traffic model.

constexpr std::uint32_t pcap_magic_nano = 0xa1b23c4d;
constexpr std::uint32_t linktype_ethernet = 1;
constexpr std::uint32_t pcap_snaplen = 65535;
constexpr std::size_t record_header_size = 16;
constexpr std::size_t max_frame = 1514;
constexpr std::size_t min_frame = 60;

constexpr std::uint32_t v4_host_count = 20000;
constexpr std::uint32_t v6_host_count = 2000;
constexpr std::uint32_t host_count = v4_host_count + v6_host_count;  // ids: v4 first, then v6
constexpr double zipf_exponent = 1.1;

constexpr std::uint16_t ethertype_ipv4 = 0x0800;
constexpr std::uint16_t ethertype_arp = 0x0806;
constexpr std::uint16_t ethertype_vlan = 0x8100;
constexpr std::uint16_t ethertype_ipv6 = 0x86dd;
constexpr std::uint8_t proto_icmp = 1;
constexpr std::uint8_t proto_tcp = 6;
constexpr std::uint8_t proto_udp = 17;

constexpr std::uint8_t tcp_fin = 0x01;
constexpr std::uint8_t tcp_syn = 0x02;
constexpr std::uint8_t tcp_psh = 0x08;
constexpr std::uint8_t tcp_ack = 0x10;

constexpr double vlan_share = 0.03;  // share of IP flows carrying an 802.1Q tag
constexpr std::array<std::uint16_t, 4> vlan_ids{10, 20, 30, 100};

// Well-known server ports. Per-host packet counts are kept per service so
// the summary can name a host's busiest port.
//
// What a service's TCP payload looks like. Random bytes on a port that
// tshark dissects are sometimes reported as malformed, so HTTP ports carry
// well-formed HTTP/1.1 and TLS ports a well-formed stream of TLS
// application-data records with random bodies.
enum class App : std::uint8_t { opaque, http, tls };
struct Service {
    std::uint16_t port;
    double weight;  // relative share among new TCP flows (0 for DNS)
    App app;
};
constexpr std::array<Service, 10> services{{
    {53, 0.0, App::opaque},  // index 0: DNS over UDP
    {443, 0.62, App::tls},
    {80, 0.14, App::http},
    {8080, 0.04, App::http},
    {3128, 0.03, App::http},
    {8443, 0.04, App::tls},
    {993, 0.03, App::tls},
    {995, 0.02, App::tls},
    {636, 0.02, App::tls},
    {25, 0.06, App::opaque},
}};
constexpr std::uint32_t tls_max_record = 16384;  // body bytes
constexpr std::uint32_t tls_header_size = 5;
constexpr std::uint8_t service_dns = 0;
constexpr std::uint8_t no_service = 0xff;

// ---------------------------------------------------------------------------
// Byte helpers (network order). Frames are built in a byte buffer; no
// structure is ever cast onto it.

constexpr std::uint8_t lo8(std::uint64_t v) noexcept { return static_cast<std::uint8_t>(v & 0xffU); }

void put16(std::uint8_t* p, std::uint32_t v) noexcept {
    p[0] = lo8(v >> 8);
    p[1] = lo8(v);
}
void put32(std::uint8_t* p, std::uint32_t v) noexcept {
    p[0] = lo8(v >> 24);
    p[1] = lo8(v >> 16);
    p[2] = lo8(v >> 8);
    p[3] = lo8(v);
}
// Host byte order, for the pcap headers (readers detect it from the magic).
void put32_host(std::uint8_t* p, std::uint32_t v) noexcept { std::memcpy(p, &v, sizeof v); }
void put16_host(std::uint8_t* p, std::uint16_t v) noexcept { std::memcpy(p, &v, sizeof v); }

// RFC 1071 Internet checksum, computed on native-order 64-bit words with
// end-around carry. The folded result is in native order too (the sum is
// byte-order independent), so it is stored with a native 16-bit store.
// Partial sums of several regions may be added as long as every region but
// the last has an even length.
std::uint64_t csum_add(std::uint64_t acc, std::uint64_t v) noexcept {
    acc += v;
    return acc + (acc < v ? 1U : 0U);
}
std::uint64_t csum_partial(const std::uint8_t* p, std::size_t n, std::uint64_t acc) noexcept {
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        acc = csum_add(acc, w);
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, n);
        acc = csum_add(acc, w);
    }
    return acc;
}
// Folds and complements; stores the checksum at `where`.
void csum_store(std::uint8_t* where, std::uint64_t acc, bool zero_means_none) noexcept {
    std::uint64_t s = (acc & 0xffffffffU) + (acc >> 32);
    s = (s & 0xffffffffU) + (s >> 32);
    s = (s & 0xffffU) + (s >> 16);
    s = (s & 0xffffU) + (s >> 16);
    auto sum = static_cast<std::uint16_t>(~s & 0xffffU);
    if (zero_means_none && sum == 0) sum = 0xffff;  // UDP: 0 would mean "no checksum"
    put16_host(where, sum);
}

// ---------------------------------------------------------------------------
// Randomness: xoshiro256** seeded with splitmix64. Portable and fast; the
// std:: distributions are avoided because their output is unspecified.

class Rng {
public:
    explicit Rng(std::uint64_t seed) noexcept {
        for (auto& s : state_) {
            seed += 0x9e3779b97f4a7c15ULL;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            s = z ^ (z >> 31);
        }
    }
    std::uint64_t next() noexcept {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }
    std::uint32_t next32() noexcept { return static_cast<std::uint32_t>(next() >> 32); }
    // Uniform in [0, n); n > 0. Multiply-shift, bias < 2^-32.
    std::uint32_t below(std::uint32_t n) noexcept {
        return static_cast<std::uint32_t>((static_cast<std::uint64_t>(next32()) * n) >> 32);
    }
    // Uniform in [lo, hi].
    std::uint32_t between(std::uint32_t lo, std::uint32_t hi) noexcept { return lo + below(hi - lo + 1); }
    // Uniform in [0, 1).
    double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    bool chance(double p) noexcept { return uniform() < p; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    std::array<std::uint64_t, 4> state_{};
};

// Zipf over ranks 0..n-1: P(rank k) proportional to 1/(k+1)^s.
class Zipf {
public:
    Zipf(std::size_t n, double s) : cdf_(n) {
        double total = 0;
        for (std::size_t k = 0; k < n; ++k) {
            total += 1.0 / std::pow(static_cast<double>(k + 1), s);
            cdf_[k] = total;
        }
        for (auto& c : cdf_) c /= total;
        cdf_.back() = 1.0;
    }
    std::uint32_t sample(Rng& rng) const noexcept {
        const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), rng.uniform());
        return static_cast<std::uint32_t>(
            std::min<std::ptrdiff_t>(it - cdf_.begin(), static_cast<std::ptrdiff_t>(cdf_.size()) - 1));
    }

private:
    std::vector<double> cdf_;
};

// ---------------------------------------------------------------------------
// Hosts.

using Ip4 = std::array<std::uint8_t, 4>;
using Ip6 = std::array<std::uint8_t, 16>;
using Mac = std::array<std::uint8_t, 6>;

std::string format_ip4(const Ip4& a) { return fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]); }

// RFC 5952: lowercase, no leading zeros, the longest run (>= 2) of zero
// groups replaced by "::".
std::string format_ip6(const Ip6& a) {
    std::array<unsigned, 8> g{};
    for (std::size_t i = 0; i < 8; ++i) g[i] = (unsigned{a[2 * i]} << 8) | a[2 * i + 1];
    std::size_t best = 8, best_len = 0;
    for (std::size_t i = 0; i < 8;) {
        if (g[i] != 0) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < 8 && g[j] == 0) ++j;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2) best = 8;
    std::string out;
    for (std::size_t i = 0; i < 8; ++i) {
        if (i == best) {
            out += "::";
            i += best_len - 1;
            continue;
        }
        if (!out.empty() && out.back() != ':') out += ':';
        out += fmt::format("{:x}", g[i]);
    }
    return out;
}

class Hosts {
public:
    explicit Hosts(Rng& rng)
        : v4_(v4_host_count),
          v6_(v6_host_count),
          rank_v4_(v4_host_count),
          rank_v6_(v6_host_count),
          zipf_v4_(v4_host_count, zipf_exponent),
          zipf_v6_(v6_host_count, zipf_exponent) {
        std::unordered_set<std::uint32_t> seen4;
        for (auto& a : v4_) {
            std::uint32_t x;
            do {
                // One draw per statement: the order of evaluation of operands
                // is unspecified, and the output must not depend on the compiler.
                const bool ten = rng.chance(0.75);
                const std::uint32_t b = rng.below(256);
                const std::uint32_t c = rng.below(256);
                const std::uint32_t d = rng.between(1, 254);
                x = ten ? (10U << 24) | (b << 16) | (c << 8) | d : (192U << 24) | (168U << 16) | (c << 8) | d;
            } while (!seen4.insert(x).second);
            put32(a.data(), x);
        }
        // 64 /64 subnets under 2001:db8::/32, random interface identifiers.
        std::array<std::uint32_t, 64> subnets{};
        for (auto& s : subnets) s = rng.next32();
        std::unordered_set<std::uint64_t> seen6;
        for (auto& a : v6_) {
            std::uint64_t iid;
            do {
                iid = rng.next();
            } while (!seen6.insert(iid).second);
            put32(a.data(), 0x20010db8);
            put32(a.data() + 4, subnets[rng.below(64)]);
            put32(a.data() + 8, static_cast<std::uint32_t>(iid >> 32));
            put32(a.data() + 12, static_cast<std::uint32_t>(iid));
        }
        shuffle(rng, rank_v4_, 0);
        shuffle(rng, rank_v6_, v4_host_count);
    }

    // Two distinct host ids of one family, each drawn by popularity.
    std::pair<std::uint32_t, std::uint32_t> pair(Rng& rng, bool v6) const noexcept {
        const auto& zipf = v6 ? zipf_v6_ : zipf_v4_;
        const auto& rank = v6 ? rank_v6_ : rank_v4_;
        const std::uint32_t a = rank[zipf.sample(rng)];
        std::uint32_t b;
        do {
            b = rank[zipf.sample(rng)];
        } while (b == a);
        return {a, b};
    }
    std::uint32_t random_v4(Rng& rng) const noexcept { return rng.below(v4_host_count); }
    std::uint32_t random_v6(Rng& rng) const noexcept { return v4_host_count + rng.below(v6_host_count); }

    static bool is_v6(std::uint32_t id) noexcept { return id >= v4_host_count; }
    const Ip4& v4(std::uint32_t id) const noexcept { return v4_[id]; }
    const Ip6& v6(std::uint32_t id) const noexcept { return v6_[id - v4_host_count]; }
    static Mac mac(std::uint32_t id) noexcept {
        return {0x02, 0x42, lo8(id >> 24), lo8(id >> 16), lo8(id >> 8), lo8(id)};
    }
    // Initial TTL / hop limit of the host's OS, minus a few hops.
    static std::uint8_t ttl(std::uint32_t id) noexcept { return lo8((id % 3 == 0 ? 128U : 64U) - id % 5); }
    std::string text(std::uint32_t id) const { return is_v6(id) ? format_ip6(v6(id)) : format_ip4(v4(id)); }

private:
    static void shuffle(Rng& rng, std::vector<std::uint32_t>& v, std::uint32_t base) {
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = base + static_cast<std::uint32_t>(i);
        for (std::size_t i = v.size() - 1; i > 0; --i) {
            std::swap(v[i], v[rng.below(static_cast<std::uint32_t>(i + 1))]);
        }
    }

    std::vector<Ip4> v4_;
    std::vector<Ip6> v6_;
    std::vector<std::uint32_t> rank_v4_;  // popularity rank -> host id
    std::vector<std::uint32_t> rank_v6_;
    Zipf zipf_v4_;
    Zipf zipf_v6_;
};

// ---------------------------------------------------------------------------
// Flows.

enum class Kind : std::uint8_t { none, tcp, dns, udp_stream, icmp_echo, arp };

// Traffic classes; each owns a fixed set of concurrent flow slots.
enum class Class : std::uint8_t { tcp4, udp4, icmp4, tcp6, udp6, arp };
struct ClassSpec {
    Class cls;
    double packet_share;
    std::uint32_t slots;
};
constexpr std::array<ClassSpec, 6> classes{{
    {Class::tcp4, 0.775, 480},
    {Class::udp4, 0.14, 80},
    {Class::icmp4, 0.02, 8},
    {Class::tcp6, 0.04, 40},
    {Class::udp6, 0.02, 12},
    {Class::arp, 0.005, 2},
}};

enum TcpState : std::uint8_t { syn, syn_ack, hs_ack, request, response, data_ack, last_ack, fin1, fin2, fin3 };

// One live flow. Plain data; a slot is reused when its flow ends.
struct Flow {
    Kind kind = Kind::none;
    bool v6 = false;
    std::uint8_t state = 0;
    std::uint8_t service = no_service;
    std::uint8_t ack_every = 2;  // TCP: client ACKs every n-th data segment
    std::uint8_t unacked = 0;
    std::uint8_t qname_len = 0;
    bool first_segment = false;  // TCP: next response segment is the first of its response
    std::uint8_t tls_hdr = 5;    // TLS response stream: header bytes of the current record written (5: all)
    std::uint16_t tls_len = 0;   // TLS response stream: body length of the current record
    std::uint16_t tls_left = 0;  // TLS response stream: body bytes of the current record still to write
    std::uint16_t vlan = 0;      // 0: untagged
    std::uint16_t mss = 1460;
    std::uint16_t cport = 0;
    std::uint16_t sport = 0;
    std::uint16_t ident = 0;     // ICMP identifier / DNS transaction id
    std::uint16_t icmp_seq = 0;  // ICMP sequence / RTP-like sequence
    std::uint32_t client = 0;    // host ids
    std::uint32_t server = 0;
    std::uint32_t cseq = 0;  // TCP: next sequence number of each side; ICMP/UDP: scratch
    std::uint32_t sseq = 0;
    std::uint32_t remaining = 0;  // TCP response bytes / UDP datagrams / ICMP messages left
    std::uint32_t rounds = 0;     // TCP request/response rounds left
    std::uint32_t flow_label = 0;
    std::array<std::uint8_t, 40> qname{};  // DNS name in wire format
};

// ---------------------------------------------------------------------------
// Output: records are built in place in a large buffer, written in big
// chunks.

class PcapWriter {
public:
    explicit PcapWriter(const std::string& path) : path_(path), buf_(8U << 20) {
        file_.reset(std::fopen(path.c_str(), "wb"));
        if (!file_)
            throw std::runtime_error(fmt::format("cannot open '{}' for writing: {}", path, std::strerror(errno)));
        std::uint8_t* h = buf_.data();
        put32_host(h, pcap_magic_nano);
        put16_host(h + 4, 2);
        put16_host(h + 6, 4);
        put32_host(h + 8, 0);   // thiszone
        put32_host(h + 12, 0);  // sigfigs
        put32_host(h + 16, pcap_snaplen);
        put32_host(h + 20, linktype_ethernet);
        used_ = 24;
    }

    // Room for one frame of up to max_frame bytes; valid until commit().
    std::uint8_t* frame() {
        if (buf_.size() - used_ < record_header_size + max_frame) flush();
        return buf_.data() + used_ + record_header_size;
    }
    // Completes the record started by frame(). ts_ns: nanoseconds since the epoch.
    void commit(std::uint64_t ts_ns, std::size_t len) noexcept {
        std::uint8_t* h = buf_.data() + used_;
        put32_host(h, static_cast<std::uint32_t>(ts_ns / 1'000'000'000U));
        put32_host(h + 4, static_cast<std::uint32_t>(ts_ns % 1'000'000'000U));
        put32_host(h + 8, static_cast<std::uint32_t>(len));
        put32_host(h + 12, static_cast<std::uint32_t>(len));
        used_ += record_header_size + len;
    }
    void close() {
        flush();
        if (std::fclose(file_.release()) != 0)
            throw std::runtime_error(fmt::format("cannot write '{}': {}", path_, std::strerror(errno)));
    }
    std::uint64_t bytes_written() const noexcept { return written_ + used_; }

private:
    void flush() {
        if (used_ > 0 && std::fwrite(buf_.data(), 1, used_, file_.get()) != used_) {
            throw std::runtime_error(fmt::format("cannot write '{}': {}", path_, std::strerror(errno)));
        }
        written_ += used_;
        used_ = 0;
    }
    struct FileCloser {
        void operator()(std::FILE* f) const noexcept { std::fclose(f); }
    };
    std::string path_;
    std::unique_ptr<std::FILE, FileCloser> file_;
    std::vector<std::uint8_t> buf_;
    std::size_t used_ = 0;
    std::uint64_t written_ = 0;
};

// ---------------------------------------------------------------------------
// The generator.

struct Options {
    std::uint64_t packets = 0;
    std::uint64_t seed = 1;
    double start = 1700000000.0;  // seconds since the epoch
    double pps = 100000.0;
    std::string output;
    std::string hosts_json;
};

struct Counts {
    std::vector<std::uint64_t> packets;          // per host: IP packets with the host as source or destination
    std::vector<std::uint64_t> src_packets;      // per host: as source
    std::vector<std::uint64_t> arp_packets;      // per host: ARP packets naming it (tcpdump "host" matches these too)
    std::vector<std::uint64_t> service_packets;  // per host x service
    std::array<std::uint64_t, services.size()> port_packets{};
    std::uint64_t frames = 0;
    std::uint64_t frame_bytes = 0;
    std::uint64_t first_ts = 0;
    std::uint64_t last_ts = 0;

    Counts()
        : packets(host_count),
          src_packets(host_count),
          arp_packets(host_count),
          service_packets(host_count * services.size()) {}
};

class Generator {
public:
    explicit Generator(const Options& opt)
        : rng_(opt.seed), hosts_(rng_), pool_(payload_pool_size + max_frame), ip_id_(host_count) {
        for (auto& b : pool_) b = lo8(rng_.next() >> 56);
        for (auto& id : ip_id_) id = static_cast<std::uint16_t>(rng_.next32());
        std::uint32_t total_slots = 0;
        double cum = 0;
        for (std::size_t i = 0; i < classes.size(); ++i) {
            cum += classes[i].packet_share;
            class_cum_[i] = cum;
            class_first_[i] = total_slots;
            total_slots += classes[i].slots;
        }
        class_cum_.back() = 2.0;  // catch rounding
        flows_.resize(total_slots);
        for (std::size_t i = 0; i < services.size(); ++i) {
            service_total_ += services[i].weight;
        }
    }

    void run(const Options& opt, PcapWriter& out) {
        const double mean_gap = 1e9 / opt.pps;
        auto ts = static_cast<std::uint64_t>(std::llround(opt.start * 1e9));
        counts_.first_ts = ts;
        for (std::uint64_t i = 0; i < opt.packets; ++i) {
            if (i > 0) {
                const double gap = -std::log1p(-rng_.uniform()) * mean_gap;
                ts += std::max<std::uint64_t>(1, static_cast<std::uint64_t>(gap));
            }
            now_ns_ = ts;
            std::uint8_t* frame = out.frame();
            const std::size_t len = emit(pick_flow(), frame);
            out.commit(ts, len);
            counts_.frame_bytes += len;
        }
        counts_.frames = opt.packets;
        counts_.last_ts = ts;
    }

    const Counts& counts() const noexcept { return counts_; }
    const Hosts& hosts() const noexcept { return hosts_; }

private:
    static constexpr std::size_t payload_pool_size = 1U << 20;

    Flow& pick_flow() {
        const double u = rng_.uniform();
        std::size_t c = 0;
        while (u >= class_cum_[c]) ++c;
        Flow& f = flows_[class_first_[c] + rng_.below(classes[c].slots)];
        if (f.kind == Kind::none) start(f, classes[c].cls);
        return f;
    }

    // --- flow setup -------------------------------------------------------

    void start(Flow& f, Class cls) {
        f = Flow{};
        switch (cls) {
            case Class::tcp4: start_tcp(f, false); break;
            case Class::tcp6: start_tcp(f, true); break;
            case Class::udp4:
            case Class::udp6:
                if (rng_.chance(0.9)) {
                    start_dns(f, cls == Class::udp6);
                } else {
                    start_udp_stream(f, cls == Class::udp6);
                }
                break;
            case Class::icmp4: start_icmp(f); break;
            case Class::arp: start_arp(f); break;
        }
    }

    void endpoints(Flow& f, bool v6) {
        f.v6 = v6;
        std::tie(f.client, f.server) = hosts_.pair(rng_, v6);
        if (rng_.chance(vlan_share)) f.vlan = vlan_ids[rng_.below(vlan_ids.size())];
        f.flow_label = rng_.next32() & 0xfffffU;
    }

    // A port from the IANA dynamic range, avoiding the ones tshark 4.0
    // dissects by UDP port number ('tshark -G decodes'): random payload
    // there looks malformed.
    std::uint16_t dynamic_port() noexcept {
        std::uint32_t port;
        do {
            port = rng_.between(49152, 65535);
        } while (port == 49999 || port == 54328 || (port >= 56000 && port <= 60001));
        return static_cast<std::uint16_t>(port);
    }

    std::uint16_t ephemeral_port() noexcept { return static_cast<std::uint16_t>(rng_.between(32768, 60999)); }

    void start_tcp(Flow& f, bool v6) {
        f.kind = Kind::tcp;
        endpoints(f, v6);
        double u = rng_.uniform() * service_total_;
        std::uint8_t s = 1;
        while (s + 1U < services.size() && u >= services[s].weight) {
            u -= services[s].weight;
            ++s;
        }
        f.service = s;
        f.sport = services[s].port;
        f.cport = ephemeral_port();
        f.mss = static_cast<std::uint16_t>(max_frame - 14 - (v6 ? 40 : 20) - 20 - (f.vlan != 0 ? 4 : 0));
        f.cseq = rng_.next32();
        f.sseq = rng_.next32();
        f.ack_every = rng_.chance(0.5) ? 1 : 2;
        const double r = rng_.uniform();
        f.rounds = r < 0.6 ? 1 : r < 0.9 ? rng_.between(2, 5) : rng_.between(6, 30);
        f.state = syn;
    }

    // Size of one response in bytes: mostly small objects, a heavy tail of
    // bulk transfers.
    std::uint32_t response_size() noexcept {
        const double r = rng_.uniform();
        if (r < 0.62) return rng_.between(80, 1400);
        if (r < 0.92) return rng_.between(1400, 12000);
        if (r < 0.99) return rng_.between(12000, 120000);
        return rng_.between(120000, 800000);
    }

    void start_dns(Flow& f, bool v6) {
        f.kind = Kind::dns;
        endpoints(f, v6);
        f.service = service_dns;
        f.cport = ephemeral_port();
        f.sport = 53;
        f.ident = static_cast<std::uint16_t>(rng_.next32());
        // <random label>.<domain>.<tld>
        static constexpr std::array<std::string_view, 8> domains{"example", "corp", "internal", "cdn",
                                                                 "api",     "mail", "updates",  "metrics"};
        static constexpr std::array<std::string_view, 4> tlds{"com", "net", "org", "io"};
        static constexpr std::string_view alnum = "abcdefghijklmnopqrstuvwxyz0123456789";
        std::size_t n = 0;
        const std::uint32_t first = rng_.between(3, 12);
        f.qname[n++] = lo8(first);
        for (std::uint32_t i = 0; i < first; ++i)
            f.qname[n++] = static_cast<std::uint8_t>(alnum[rng_.below(static_cast<std::uint32_t>(alnum.size()))]);
        for (std::string_view label : {domains[rng_.below(domains.size())], tlds[rng_.below(tlds.size())]}) {
            f.qname[n++] = lo8(label.size());
            std::memcpy(&f.qname[n], label.data(), label.size());
            n += label.size();
        }
        f.qname[n++] = 0;
        f.qname_len = lo8(n);
        f.remaining = 2;
    }

    void start_udp_stream(Flow& f, bool v6) {
        f.kind = Kind::udp_stream;
        endpoints(f, v6);
        f.cport = dynamic_port();
        f.sport = dynamic_port();
        f.remaining = rng_.between(4, 120);
    }

    void start_icmp(Flow& f) {
        f.kind = Kind::icmp_echo;
        endpoints(f, false);
        f.ident = static_cast<std::uint16_t>(rng_.next32());
        f.remaining = 2 * rng_.between(1, 6);
    }

    void start_arp(Flow& f) {
        f.kind = Kind::arp;
        std::tie(f.client, f.server) = hosts_.pair(rng_, false);
        f.remaining = 2;
    }

    // --- packet emission ---------------------------------------------------

    // Ethernet (+ 802.1Q) header; returns its length.
    static std::size_t put_ethernet(std::uint8_t* p, const Mac& dst, const Mac& src, std::uint16_t vlan,
                                    std::uint16_t type) noexcept {
        std::memcpy(p, dst.data(), 6);
        std::memcpy(p + 6, src.data(), 6);
        if (vlan != 0) {
            put16(p + 12, ethertype_vlan);
            put16(p + 14, vlan);
            put16(p + 16, type);
            return 18;
        }
        put16(p + 12, type);
        return 14;
    }

    // Writes the Ethernet and IP headers for a packet of `f` carrying an
    // l4_len-byte transport segment and returns the offset of the transport
    // header. `pseudo` gets the pseudo-header checksum partial sum.
    std::size_t put_ip(std::uint8_t* p, const Flow& f, bool from_client, std::uint8_t proto, std::size_t l4_len,
                       std::uint64_t& pseudo) noexcept {
        const std::uint32_t src = from_client ? f.client : f.server;
        const std::uint32_t dst = from_client ? f.server : f.client;
        count_ip(f, src, dst);
        std::size_t off =
            put_ethernet(p, Hosts::mac(dst), Hosts::mac(src), f.vlan, f.v6 ? ethertype_ipv6 : ethertype_ipv4);
        std::uint8_t* ip = p + off;
        const auto len = static_cast<std::uint32_t>(l4_len);
        if (f.v6) {
            put32(ip, (6U << 28) | f.flow_label);
            put16(ip + 4, len);
            ip[6] = proto;
            ip[7] = Hosts::ttl(src);
            std::memcpy(ip + 8, hosts_.v6(src).data(), 16);
            std::memcpy(ip + 24, hosts_.v6(dst).data(), 16);
            std::array<std::uint8_t, 8> tail{};  // upper-layer length (32 bits), zero, next header
            put32(tail.data(), len);
            tail[7] = proto;
            pseudo = csum_partial(tail.data(), tail.size(), csum_partial(ip + 8, 32, 0));
            return off + 40;
        }
        ip[0] = 0x45;
        ip[1] = 0;
        put16(ip + 2, 20 + len);
        put16(ip + 4, ip_id_[src]++);
        put16(ip + 6, proto == proto_udp ? 0 : 0x4000);  // DF except on UDP
        ip[8] = Hosts::ttl(src);
        ip[9] = proto;
        put16(ip + 10, 0);
        std::memcpy(ip + 12, hosts_.v4(src).data(), 4);
        std::memcpy(ip + 16, hosts_.v4(dst).data(), 4);
        csum_store(ip + 10, csum_partial(ip, 20, 0), false);
        std::array<std::uint8_t, 4> tail{};  // zero, protocol, upper-layer length
        tail[1] = proto;
        put16(tail.data() + 2, len);
        pseudo = csum_partial(tail.data(), tail.size(), csum_partial(ip + 12, 8, 0));
        return off + 20;
    }

    void count_ip(const Flow& f, std::uint32_t src, std::uint32_t dst) noexcept {
        ++counts_.packets[src];
        ++counts_.packets[dst];
        ++counts_.src_packets[src];
        if (f.service != no_service) {
            ++counts_.service_packets[src * services.size() + f.service];
            ++counts_.service_packets[dst * services.size() + f.service];
            ++counts_.port_packets[f.service];
        }
    }

    static std::size_t pad(std::uint8_t* frame, std::size_t len) noexcept {
        if (len >= min_frame) return len;
        std::memset(frame + len, 0, min_frame - len);
        return min_frame;
    }

    // Copies n pseudo-random bytes (cheap: a slice of a fixed random pool).
    void random_bytes(std::uint8_t* p, std::size_t n) noexcept {
        std::memcpy(p, pool_.data() + (rng_.next() & (payload_pool_size - 1)), n);
    }

    std::size_t emit(Flow& f, std::uint8_t* frame) {
        switch (f.kind) {
            case Kind::tcp: return emit_tcp(f, frame);
            case Kind::dns: return emit_dns(f, frame);
            case Kind::udp_stream: return emit_udp_stream(f, frame);
            case Kind::icmp_echo: return emit_icmp(f, frame);
            case Kind::arp: return emit_arp(f, frame);
            case Kind::none: break;
        }
        throw std::logic_error("emit on an empty flow slot");
    }

    // One TCP segment of `f` with `payload` bytes: `text` (at most `payload`
    // bytes) followed by random bytes.
    std::size_t tcp_segment(Flow& f, std::uint8_t* frame, bool from_client, std::uint8_t flags, std::size_t payload,
                            std::string_view text = {}) {
        const bool syn_opts = (flags & tcp_syn) != 0;
        const std::size_t hlen = syn_opts ? 32 : 20;
        std::uint64_t pseudo = 0;
        const std::size_t off = put_ip(frame, f, from_client, proto_tcp, hlen + payload, pseudo);
        std::uint8_t* t = frame + off;
        put16(t, from_client ? f.cport : f.sport);
        put16(t + 2, from_client ? f.sport : f.cport);
        put32(t + 4, from_client ? f.cseq : f.sseq);
        put32(t + 8, (flags & tcp_ack) != 0 ? (from_client ? f.sseq : f.cseq) : 0);
        t[12] = lo8((hlen / 4) << 4);
        t[13] = flags;
        put16(t + 14, syn_opts ? 64240 : from_client ? 502 : 509);  // window scale 7 after the handshake
        put16(t + 16, 0);
        put16(t + 18, 0);
        if (syn_opts) {
            const std::array<std::uint8_t, 12> opts{2, 4, lo8(f.mss >> 8), lo8(f.mss), 1, 1, 4, 2, 1, 3,
                                                    3, 7};  // MSS, SACK_PERM, WS
            std::memcpy(t + 20, opts.data(), opts.size());
        }
        fill_payload(f, from_client, t + hlen, payload, text);
        csum_store(t + 16, csum_partial(t, hlen + payload, pseudo), false);
        return pad(frame, off + hlen + payload);
    }

    static void tls_header(std::uint8_t* p, std::uint32_t body) noexcept {
        p[0] = 23;  // application data
        put16(p + 1, 0x0303);
        put16(p + 3, body);
    }

    // The payload of one segment. HTTP: `text`, then random bytes. TLS: a
    // request is one record; a response is a stream of records of up to
    // tls_max_record bytes that span segments (state in f.tls_*, bytes left
    // in the response in f.remaining, this segment included). Otherwise
    // random bytes.
    void fill_payload(Flow& f, bool from_client, std::uint8_t* p, std::size_t n, std::string_view text) {
        if (n == 0) return;
        if (services[f.service].app != App::tls) {
            std::memcpy(p, text.data(), text.size());
            random_bytes(p + text.size(), n - text.size());
            return;
        }
        if (from_client) {
            tls_header(p, static_cast<std::uint32_t>(n - tls_header_size));
            random_bytes(p + tls_header_size, n - tls_header_size);
            return;
        }
        std::uint32_t left = f.remaining;
        std::size_t i = 0;
        while (i < n) {
            if (f.tls_hdr < tls_header_size) {
                std::array<std::uint8_t, tls_header_size> h{};
                tls_header(h.data(), f.tls_len);
                p[i++] = h[f.tls_hdr++];
                --left;
            } else if (f.tls_left == 0) {
                f.tls_len = static_cast<std::uint16_t>(std::min(tls_max_record, left - tls_header_size));
                f.tls_left = f.tls_len;
                f.tls_hdr = 0;
            } else {
                const std::size_t k = std::min<std::size_t>(f.tls_left, n - i);
                random_bytes(p + i, k);
                i += k;
                f.tls_left = static_cast<std::uint16_t>(f.tls_left - k);
                left -= static_cast<std::uint32_t>(k);
            }
        }
    }

    std::size_t emit_tcp(Flow& f, std::uint8_t* frame) {
        std::size_t len = 0;
        switch (f.state) {
            case syn:
                len = tcp_segment(f, frame, true, tcp_syn, 0);
                ++f.cseq;
                f.state = syn_ack;
                break;
            case syn_ack:
                len = tcp_segment(f, frame, false, tcp_syn | tcp_ack, 0);
                ++f.sseq;
                f.state = hs_ack;
                break;
            case hs_ack:
                len = tcp_segment(f, frame, true, tcp_ack, 0);
                f.state = request;
                break;
            case request: {
                const App app = services[f.service].app;
                const std::string_view text = app == App::http ? http_request() : std::string_view{};
                const std::size_t n = text.empty() ? rng_.between(40, 700) : text.size();
                len = tcp_segment(f, frame, true, tcp_psh | tcp_ack, n, text);
                f.cseq += static_cast<std::uint32_t>(n);
                f.remaining = response_size();
                if (app == App::tls) {
                    // The last record needs room for its header and one byte.
                    const std::uint32_t tail = f.remaining % (tls_header_size + tls_max_record);
                    if (tail > 0 && tail <= tls_header_size) f.remaining += tls_header_size + 1 - tail;
                    f.tls_hdr = tls_header_size;
                    f.tls_left = 0;
                }
                f.first_segment = true;
                f.unacked = 0;
                f.state = response;
                break;
            }
            case response: {
                std::string_view text;
                if (f.first_segment && services[f.service].app == App::http) {
                    // Content-Length covers the rest of the response.
                    const std::uint32_t body = std::max<std::uint32_t>(f.remaining, 300) - 200;
                    text = http_response_header(body);
                    f.remaining = static_cast<std::uint32_t>(text.size()) + body;
                }
                f.first_segment = false;
                const std::uint32_t n = std::min<std::uint32_t>(f.mss, f.remaining);
                len = tcp_segment(f, frame, false, n == f.remaining ? tcp_psh | tcp_ack : tcp_ack, n, text);
                f.remaining -= n;
                f.sseq += n;
                ++f.unacked;
                if (f.remaining == 0) {
                    f.state = last_ack;
                } else if (f.unacked >= f.ack_every) {
                    f.state = data_ack;
                }
                break;
            }
            case data_ack:
                len = tcp_segment(f, frame, true, tcp_ack, 0);
                f.unacked = 0;
                f.state = response;
                break;
            case last_ack:
                len = tcp_segment(f, frame, true, tcp_ack, 0);
                f.state = --f.rounds > 0 ? request : fin1;
                break;
            case fin1:
                len = tcp_segment(f, frame, true, tcp_fin | tcp_ack, 0);
                ++f.cseq;
                f.state = fin2;
                break;
            case fin2:
                len = tcp_segment(f, frame, false, tcp_fin | tcp_ack, 0);
                ++f.sseq;
                f.state = fin3;
                break;
            case fin3:
                len = tcp_segment(f, frame, true, tcp_ack, 0);
                f.kind = Kind::none;
                break;
            default: throw std::logic_error("bad TCP state");
        }
        return len;
    }

    // HTTP texts are built in text_; valid until the next call.
    std::string_view http_request() {
        static constexpr std::string_view hex = "0123456789abcdef";
        static constexpr std::array<std::string_view, 4> dirs{"/static/", "/api/v1/items/", "/img/", "/download/"};
        std::size_t n = 0;
        const auto append = [&](std::string_view part) {
            std::memcpy(text_.data() + n, part.data(), part.size());
            n += part.size();
        };
        append("GET ");
        append(dirs[rng_.below(dirs.size())]);
        for (std::uint32_t i = rng_.between(8, 40); i > 0; --i) text_[n++] = hex[rng_.below(16)];
        append(
            " HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: capdb-gencap/1.0\r\nAccept: */*\r\n"
            "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n");
        return {text_.data(), n};
    }
    std::string_view http_response_header(std::uint32_t body) {
        const auto r =
            fmt::format_to_n(text_.data(), text_.size(),
                             "HTTP/1.1 200 OK\r\nServer: capdb-gencap\r\nContent-Type: application/octet-stream\r\n"
                             "Content-Length: {}\r\nConnection: keep-alive\r\n\r\n",
                             body);
        return {text_.data(), r.size};
    }

    // UDP header at `off`; payload already written after it.
    static std::size_t finish_udp(std::uint8_t* frame, std::size_t off, std::uint16_t sp, std::uint16_t dp,
                                  std::size_t payload, std::uint64_t pseudo) noexcept {
        std::uint8_t* u = frame + off;
        put16(u, sp);
        put16(u + 2, dp);
        put16(u + 4, static_cast<std::uint32_t>(8 + payload));
        put16(u + 6, 0);
        csum_store(u + 6, csum_partial(u, 8 + payload, pseudo), true);
        return pad(frame, off + 8 + payload);
    }

    std::size_t emit_dns(Flow& f, std::uint8_t* frame) {
        const bool query = f.remaining == 2;
        const bool aaaa = f.v6;
        const std::size_t rdlen = aaaa ? 16 : 4;
        const std::size_t question = std::size_t{f.qname_len} + 4;
        const std::size_t payload = 12 + question + (query ? 0 : 12 + rdlen);
        std::uint64_t pseudo = 0;
        const std::size_t off = put_ip(frame, f, query, proto_udp, 8 + payload, pseudo);
        std::uint8_t* d = frame + off + 8;
        put16(d, f.ident);
        put16(d + 2, query ? 0x0100 : 0x8180);  // RD / QR RD RA
        put16(d + 4, 1);                        // QDCOUNT
        put16(d + 6, query ? 0 : 1);            // ANCOUNT
        put32(d + 8, 0);                        // NSCOUNT, ARCOUNT
        std::uint8_t* q = d + 12;
        std::memcpy(q, f.qname.data(), f.qname_len);
        put16(q + f.qname_len, aaaa ? 28 : 1);
        put16(q + f.qname_len + 2, 1);  // IN
        if (!query) {
            std::uint8_t* a = q + question;
            put16(a, 0xc00c);  // pointer to the question name
            put16(a + 2, aaaa ? 28 : 1);
            put16(a + 4, 1);
            put32(a + 6, rng_.between(30, 86400));
            put16(a + 10, static_cast<std::uint32_t>(rdlen));
            if (aaaa) {
                std::memcpy(a + 12, hosts_.v6(hosts_.random_v6(rng_)).data(), 16);
            } else {
                std::memcpy(a + 12, hosts_.v4(hosts_.random_v4(rng_)).data(), 4);
            }
        }
        if (--f.remaining == 0) f.kind = Kind::none;
        return finish_udp(frame, off, query ? f.cport : f.sport, query ? f.sport : f.cport, payload, pseudo);
    }

    std::size_t emit_udp_stream(Flow& f, std::uint8_t* frame) {
        const bool from_client = rng_.chance(0.75);
        const std::size_t limit = f.v6 ? 1400 : 1420;
        const std::size_t payload =
            rng_.chance(0.55) ? rng_.between(20, 240) : rng_.between(900, static_cast<std::uint32_t>(limit));
        std::uint64_t pseudo = 0;
        const std::size_t off = put_ip(frame, f, from_client, proto_udp, 8 + payload, pseudo);
        // An RTP-like header (version 2, dynamic payload type 96, sequence
        // number, timestamp, SSRC) before random bytes: media-stream shaped,
        // and it keeps tshark's UDP heuristics (RTCP, CLTP, ...) from
        // claiming the datagrams.
        std::uint8_t* d = frame + off + 8;
        random_bytes(d, payload);
        d[0] = 0x80;
        d[1] = 96;
        put16(d + 2, f.icmp_seq++);
        put32(d + 4, f.cseq += 160);
        put32(d + 8, f.flow_label);
        if (--f.remaining == 0) f.kind = Kind::none;
        return finish_udp(frame, off, from_client ? f.cport : f.sport, from_client ? f.sport : f.cport, payload,
                          pseudo);
    }

    // Echo request / reply pairs with Linux ping's 56-byte payload: a
    // struct timeval, then the bytes 0x10, 0x11, ...
    std::size_t emit_icmp(Flow& f, std::uint8_t* frame) {
        const bool request = f.remaining % 2 == 0;
        if (request) ++f.icmp_seq;
        constexpr std::size_t payload = 56;
        std::uint64_t pseudo_unused = 0;
        const std::size_t off = put_ip(frame, f, request, proto_icmp, 8 + payload, pseudo_unused);
        std::uint8_t* m = frame + off;
        m[0] = request ? 8 : 0;
        m[1] = 0;
        put16(m + 2, 0);
        put16(m + 4, f.ident);
        put16(m + 6, f.icmp_seq);
        if (request) {
            // The send time as a struct timeval, remembered for the reply.
            f.cseq = static_cast<std::uint32_t>(now_ns_ / 1'000'000'000U);
            f.sseq = static_cast<std::uint32_t>(now_ns_ % 1'000'000'000U / 1000U);
        }
        const std::uint64_t sec = f.cseq;
        const std::uint64_t usec = f.sseq;
        std::memcpy(m + 8, &sec, 8);
        std::memcpy(m + 16, &usec, 8);
        for (std::size_t i = 16; i < payload; ++i) m[8 + i] = lo8(i);
        csum_store(m + 2, csum_partial(m, 8 + payload, 0), false);
        if (--f.remaining == 0) f.kind = Kind::none;
        return pad(frame, off + 8 + payload);
    }

    std::size_t emit_arp(Flow& f, std::uint8_t* frame) {
        const bool request = f.remaining == 2;
        const std::uint32_t sender = request ? f.client : f.server;
        const std::uint32_t target = request ? f.server : f.client;
        const Mac broadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        const std::size_t off =
            put_ethernet(frame, request ? broadcast : Hosts::mac(target), Hosts::mac(sender), 0, ethertype_arp);
        std::uint8_t* a = frame + off;
        put16(a, 1);  // Ethernet
        put16(a + 2, ethertype_ipv4);
        a[4] = 6;
        a[5] = 4;
        put16(a + 6, request ? 1 : 2);
        std::memcpy(a + 8, Hosts::mac(sender).data(), 6);
        std::memcpy(a + 14, hosts_.v4(sender).data(), 4);
        if (request) {
            std::memset(a + 18, 0, 6);
        } else {
            std::memcpy(a + 18, Hosts::mac(target).data(), 6);
        }
        std::memcpy(a + 24, hosts_.v4(target).data(), 4);
        ++counts_.arp_packets[sender];
        ++counts_.arp_packets[target];
        if (--f.remaining == 0) f.kind = Kind::none;
        return pad(frame, off + 28);
    }

    Rng rng_;
    Hosts hosts_;
    std::vector<std::uint8_t> pool_;
    std::vector<std::uint16_t> ip_id_;  // next IPv4 identification per host
    std::vector<Flow> flows_;
    std::array<double, classes.size()> class_cum_{};
    std::array<std::uint32_t, classes.size()> class_first_{};
    std::array<char, 512> text_{};
    std::uint64_t now_ns_ = 0;  // timestamp of the packet being built, ns since the epoch
    double service_total_ = 0;
    Counts counts_;
};

// ---------------------------------------------------------------------------
// Report.

// The host whose packet count is closest (in ratio) to share * total.
std::uint32_t host_near_share(const Counts& c, double share) {
    const double want = share * static_cast<double>(c.frames);
    std::uint32_t best = 0;
    double best_err = std::numeric_limits<double>::infinity();
    for (std::uint32_t id = 0; id < host_count; ++id) {
        if (c.packets[id] == 0) continue;
        const double err = std::abs(std::log(static_cast<double>(c.packets[id]) / want));
        if (err < best_err) {
            best_err = err;
            best = id;
        }
    }
    return best;
}

std::uint8_t busiest_service(const Counts& c, std::uint32_t id) {
    std::uint8_t best = 0;
    for (std::uint8_t s = 1; s < services.size(); ++s) {
        if (c.service_packets[id * services.size() + s] > c.service_packets[id * services.size() + best]) best = s;
    }
    return best;
}

// A JSON string literal.
std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char ch : text) {
        const auto u = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (u < 0x20) {
            out += fmt::format("\\u{:04x}", u);
        } else {
            out += ch;
        }
    }
    return out + '"';
}

std::string ts_text(std::uint64_t ns) { return fmt::format("{}.{:09}", ns / 1'000'000'000U, ns % 1'000'000'000U); }

std::string host_json(const Hosts& hosts, const Counts& c, std::uint32_t id) {
    return fmt::format(R"({{"addr": "{}", "packets": {}, "src_packets": {}, "arp_packets": {}, "share": {:.6f}}})",
                       hosts.text(id), c.packets[id], c.src_packets[id], c.arp_packets[id],
                       static_cast<double>(c.packets[id]) / static_cast<double>(c.frames));
}

void write_json(const std::string& path, const Options& opt, const Hosts& hosts, const Counts& c,
                std::uint64_t file_bytes) {
    const std::uint32_t h01 = host_near_share(c, 0.001);
    const std::uint32_t h1 = host_near_share(c, 0.01);
    const std::uint8_t svc = busiest_service(c, h1);
    const auto top = static_cast<std::size_t>(std::max_element(c.port_packets.begin(), c.port_packets.end()) -
                                              c.port_packets.begin());
    std::string out = "{\n";
    out += fmt::format(
        "  \"file\": {},\n  \"seed\": {},\n  \"packets\": {},\n  \"file_bytes\": {},\n  \"frame_bytes\": {},\n",
        json_string(opt.output), opt.seed, c.frames, file_bytes, c.frame_bytes);
    out += fmt::format("  \"first_ts\": {},\n  \"last_ts\": {},\n", ts_text(c.first_ts), ts_text(c.last_ts));
    out += fmt::format("  \"host_0_1pct\": {},\n", host_json(hosts, c, h01));
    out += fmt::format("  \"host_1pct\": {},\n", host_json(hosts, c, h1));
    out += fmt::format("  \"busy_port\": {{\"host\": \"{}\", \"port\": {}, \"packets\": {}}},\n", hosts.text(h1),
                       services[svc].port, c.service_packets[h1 * services.size() + svc]);
    out += fmt::format("  \"top_port\": {{\"port\": {}, \"packets\": {}}},\n", services[top].port, c.port_packets[top]);
    // Hosts at log-spaced shares (four per decade, 10% down to 0.001%), for
    // picking a host by absolute packet count.
    out += "  \"hosts\": [\n";
    std::vector<std::uint32_t> picked;
    for (int k = 4; k <= 20; ++k) {
        const std::uint32_t id = host_near_share(c, std::pow(10.0, -k / 4.0));
        if (std::find(picked.begin(), picked.end(), id) != picked.end()) continue;
        picked.push_back(id);
    }
    for (std::size_t i = 0; i < picked.size(); ++i) {
        out += fmt::format("    {}{}\n", host_json(hosts, c, picked[i]), i + 1 < picked.size() ? "," : "");
    }
    out += "  ]\n}\n";
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "w"), &std::fclose);
    if (!f || std::fwrite(out.data(), 1, out.size(), f.get()) != out.size()) {
        throw std::runtime_error(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
    }
}

// ---------------------------------------------------------------------------
// Command line.

[[noreturn]] void usage(int code) {
    fmt::print(code == 0 ? stdout : stderr,
               "usage: capdb-gencap --packets N [--seed S] [--start EPOCH] [--pps RATE] [--hosts-json FILE] -o FILE\n");
    std::exit(code);
}

template <typename T>
T parse_number(std::string_view flag, std::string_view text) {
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) {
        fmt::print(stderr, "capdb-gencap: error: {} needs a number, got '{}'\n", flag, text);
        usage(2);
    }
    return value;
}

Options parse_args(int argc, char** argv) {
    Options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") usage(0);
        if (i + 1 >= argc) {
            fmt::print(stderr, "capdb-gencap: error: unknown or incomplete option '{}'\n", arg);
            usage(2);
        }
        const std::string_view value = argv[++i];
        if (arg == "--packets") {
            opt.packets = parse_number<std::uint64_t>(arg, value);
        } else if (arg == "--seed") {
            opt.seed = parse_number<std::uint64_t>(arg, value);
        } else if (arg == "--start") {
            opt.start = parse_number<double>(arg, value);
        } else if (arg == "--pps") {
            opt.pps = parse_number<double>(arg, value);
        } else if (arg == "-o" || arg == "--output") {
            opt.output = value;
        } else if (arg == "--hosts-json") {
            opt.hosts_json = value;
        } else {
            fmt::print(stderr, "capdb-gencap: error: unknown option '{}'\n", arg);
            usage(2);
        }
    }
    if (opt.packets == 0 || opt.output.empty() || !(opt.pps > 0) || !(opt.start >= 0) || opt.start > 4e9) {
        fmt::print(stderr, "capdb-gencap: error: need --packets N > 0, -o FILE, --pps > 0 and 0 <= --start < 2^32\n");
        usage(2);
    }
    return opt;
}

}  // namespace

int main(int argc, char** argv) {
    const Options opt = parse_args(argc, argv);
    try {
        const auto t0 = std::chrono::steady_clock::now();
        auto gen = std::make_unique<Generator>(opt);
        PcapWriter out(opt.output);
        gen->run(opt, out);
        const std::uint64_t file_bytes = out.bytes_written();
        out.close();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

        const Counts& c = gen->counts();
        const Hosts& hosts = gen->hosts();
        if (!opt.hosts_json.empty()) write_json(opt.hosts_json, opt, hosts, c, file_bytes);
        const std::uint32_t h01 = host_near_share(c, 0.001);
        const std::uint32_t h1 = host_near_share(c, 0.01);
        const std::uint8_t svc = busiest_service(c, h1);
        fmt::print(
            stderr,
            "capdb-gencap: {}: {} packets, {} bytes (avg frame {:.1f} B), {:.3f} s of traffic; generated in {:.2f} s "
            "({:.2f} Mpps, {:.0f} MB/s); ~0.1% host {} ({} packets), ~1% host {} ({} packets), its busiest port {} ({} "
            "packets)\n",
            opt.output, c.frames, file_bytes, static_cast<double>(c.frame_bytes) / static_cast<double>(c.frames),
            static_cast<double>(c.last_ts - c.first_ts) / 1e9, secs, static_cast<double>(c.frames) / secs / 1e6,
            static_cast<double>(file_bytes) / secs / 1e6, hosts.text(h01), c.packets[h01], hosts.text(h1),
            c.packets[h1], services[svc].port, c.service_packets[h1 * services.size() + svc]);
    } catch (const std::exception& e) {
        fmt::print(stderr, "capdb-gencap: error: {}\n", e.what());
        return 1;
    }
    return 0;
}
