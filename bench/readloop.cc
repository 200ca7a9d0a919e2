// capdb-readloop: the libpcap read ceiling, the fastest any pcap-based
// ingest can go on this machine.
//
//   capdb-readloop [--decode] FILE
//
// Reads every packet of FILE with pcap_next_ex() (nanosecond timestamps),
// touching each (sum of caplen and of the first byte, so the loop cannot be
// optimised away) and prints one line on stdout:
//
//   packets=N seconds=S pps=R bytes=B check=X
//
// S covers opening the file and the whole loop. With --decode every frame is
// also passed to capdb::decode(), which measures read + decode.

#include <pcap/pcap.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "capdb/decode.h"

namespace {

struct PcapCloser {
    void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

void usage() { fmt::print(stderr, "usage: capdb-readloop [--decode] FILE\n"); }

}  // namespace

int main(int argc, char** argv) {
    bool decode = false;
    std::string path;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--decode") {
            decode = true;
        } else if (arg == "-h" || arg == "--help") {
            usage();
            return 0;
        } else if (!arg.empty() && arg[0] == '-') {
            fmt::print(stderr, "capdb-readloop: error: unknown option '{}'\n", arg);
            usage();
            return 2;
        } else if (path.empty()) {
            path = arg;
        } else {
            usage();
            return 2;
        }
    }
    if (path.empty()) {
        usage();
        return 2;
    }

    const auto t0 = std::chrono::steady_clock::now();
    std::array<char, PCAP_ERRBUF_SIZE> err{};
    PcapHandle pcap(pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err.data()));
    if (!pcap) {
        fmt::print(stderr, "capdb-readloop: error: cannot open '{}': {}\n", path, err.data());
        return 1;
    }
    const auto linktype = static_cast<std::uint32_t>(pcap_datalink(pcap.get()));

    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t check = 0;  // depends on every packet read
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int rc = 0;
    while ((rc = pcap_next_ex(pcap.get(), &header, &data)) == 1) {
        ++packets;
        bytes += header->caplen;
        if (header->caplen > 0) check += data[0];
        if (decode) {
            const capdb::Summary s = capdb::decode(linktype, std::span<const std::uint8_t>(data, header->caplen));
            check += static_cast<std::uint64_t>(s.status) + s.src_port + s.dst_port + s.src.bytes[15];
        }
    }
    if (rc != PCAP_ERROR_BREAK) {  // -2: end of file
        fmt::print(stderr, "capdb-readloop: error: reading '{}' after {} packets: {}\n", path, packets,
                   pcap_geterr(pcap.get()));
        return 1;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("packets={} seconds={:.6f} pps={:.0f} bytes={} check={}\n", packets, seconds,
               seconds > 0 ? static_cast<double>(packets) / seconds : 0.0, bytes, check);
    return 0;
}
