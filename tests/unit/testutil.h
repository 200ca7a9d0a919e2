// Helpers shared by the unit tests: temporary directories and synthetic packets.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "capdb/packet.h"

namespace capdb::testing {

// A directory removed with its contents when the object goes away.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "capdb-test-XXXXXX").string();
        path_ = ::mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// A packet with owned preview storage, for feeding writers in tests.
struct OwnedPacket {
    PacketView view;
    std::vector<std::uint8_t> preview;
    [[nodiscard]] PacketView get() const {
        PacketView v = view;
        v.preview = preview;
        return v;
    }
};

// Deterministic pseudo-random packets: a few hosts, mixed families and
// protocols, some non-IP, timestamps mostly increasing with some disorder.
inline std::vector<OwnedPacket> random_packets(std::size_t n, std::uint32_t seed,
                                               std::int64_t t0 = 1'600'000'000'000'000'000) {
    std::mt19937 engine(seed);
    auto rng = [&engine] { return static_cast<std::uint32_t>(engine()); };
    std::vector<OwnedPacket> out(n);
    std::int64_t ts = t0;
    for (std::size_t i = 0; i < n; ++i) {
        OwnedPacket& p = out[i];
        ts += static_cast<std::int64_t>(rng() % 2'000'000);
        p.view.ts_ns = ts - ((rng() % 8 == 0) ? static_cast<std::int64_t>(rng() % 5'000'000) : 0);
        p.view.caplen = 40 + rng() % 1400;
        p.view.wirelen = p.view.caplen + ((rng() % 10 == 0) ? rng() % 100 : 0u);
        p.view.file_offset = static_cast<std::int64_t>(i) * 1500 + 24;
        p.view.linktype = 1;
        Summary& s = p.view.summary;
        const auto kind = rng() % 10;
        if (kind == 0) {
            s.status = Status::non_ip;
            s.ethertype = 0x0806;
            if (i % 2 == 0) {  // every other ARP with its sender and target addresses
                const std::uint8_t sender[4] = {10, 0, 0, static_cast<std::uint8_t>(i % 40)};
                const std::uint8_t target[4] = {10, 0, 1, static_cast<std::uint8_t>(i % 7)};
                s.arp = true;
                s.src = Address::from_v4(sender);
                s.dst = Address::from_v4(target);
            }
        } else {
            const bool v6 = kind == 1;
            s.network = v6 ? Network::ipv6 : Network::ipv4;
            s.ethertype = v6 ? 0x86dd : 0x0800;
            auto host = [&](std::uint32_t h) {
                Address a;
                if (v6) {
                    a.bytes = {0x20, 0x01, 0x0d, 0xb8};
                    a.bytes[15] = static_cast<std::uint8_t>(h);
                } else {
                    const std::uint8_t b[4] = {10, 0, static_cast<std::uint8_t>(h >> 8), static_cast<std::uint8_t>(h)};
                    a = Address::from_v4(b);
                }
                return a;
            };
            s.src = host(rng() % 40);
            s.dst = host(rng() % 300);
            const auto proto = rng() % 3;
            s.ip_proto = proto == 0 ? 6 : proto == 1 ? 17 : 1;
            s.has_ports = proto != 2;
            if (s.has_ports) {
                s.src_port = static_cast<std::uint16_t>(rng() % 5 == 0 ? 443 : 1024 + rng() % 60000);
                s.dst_port = static_cast<std::uint16_t>(rng() % 3 == 0 ? 53 : rng() % 65536);
            }
            if (rng() % 50 == 0) s.status = Status::truncated;
        }
        p.preview.resize(std::min<std::size_t>(16, p.view.caplen));
        for (auto& b : p.preview) b = static_cast<std::uint8_t>(rng());
    }
    return out;
}

}  // namespace capdb::testing
