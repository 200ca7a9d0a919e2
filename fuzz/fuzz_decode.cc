// Fuzz target: the packet decoder.
//
// Input: byte 0 picks the link type: 0..9 one of the supported types (in the
// order of kLinkTypes), 10..255 the little-endian u32 in bytes 1..4 (any DLT,
// mostly unsupported ones). The rest is the captured frame, passed to
// capdb::decode in a buffer of exactly its size so that ASan sees any read
// past caplen. The summary is then checked for internal consistency and
// printed in every output format.
#include <cstddef>
#include <cstdint>
#include <span>

#include <fmt/format.h>

#include "capdb/decode.h"
#include "capdb/format.h"
#include "fuzz_check.h"

namespace {

constexpr std::uint32_t kLinkTypes[] = {
    capdb::dlt::en10mb, capdb::dlt::linux_sll, capdb::dlt::linux_sll2, capdb::dlt::raw,  capdb::dlt::linktype_raw,
    capdb::dlt::ipv4,   capdb::dlt::ipv6,      capdb::dlt::null,       capdb::dlt::loop, capdb::dlt::raw_openbsd,
};
constexpr std::size_t kSupported = sizeof kLinkTypes / sizeof kLinkTypes[0];

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace capdb;
    using fuzz::check;
    if (size < 1) return 0;
    std::uint32_t linktype = 0;
    std::size_t header = 1;
    if (data[0] < kSupported) {
        linktype = kLinkTypes[data[0]];
    } else {
        if (size < 5) return 0;
        linktype = std::uint32_t{data[1]} | std::uint32_t{data[2]} << 8 | std::uint32_t{data[3]} << 16 |
                   std::uint32_t{data[4]} << 24;
        header = 5;
    }
    const std::span<const std::uint8_t> frame(data + header, size - header);

    const Summary s = decode(linktype, frame);
    const Summary again = decode(linktype, frame);

    check(static_cast<unsigned>(s.status) <= static_cast<unsigned>(Status::too_deep), "status out of range");
    check(link_type_supported(linktype) == (s.status != Status::unsupported), "unsupported iff link type unknown");
    check(!s.has_ports || s.network != Network::none, "ports without an IP layer");
    check(!s.fragment || s.network != Network::none, "fragment without an IP layer");
    check(s.network == Network::none || s.status == Status::ok || s.status == Status::truncated ||
              s.status == Status::malformed || s.status == Status::too_deep,
          "IP summary with a non-IP status");
    check(s.tunnel_layers <= kMaxTunnelLayers, "more tunnel layers than the limit");
    check(static_cast<unsigned>(s.tunnel) <= kMaxTunnelKind, "tunnel out of range");
    check((s.tunnel == Tunnel::none) == (s.tunnel_layers == 0), "tunnel layers without a tunnel");
    check(s.tunnel != Tunnel::none || (s.outer_network == Network::none && !s.has_tunnel_id),
          "outer fields without a tunnel");
    check(s.outer_network != Network::none || (s.outer_src == Address{} && s.outer_dst == Address{}),
          "outer addresses without an outer header");
    if (s.outer_network == Network::ipv4) check(s.outer_src.is_v4() && s.outer_dst.is_v4(), "outer IPv4 not v4-mapped");
    check(s.status != Status::non_ip || s.network == Network::none, "non_ip with addresses");
    if (s.network == Network::ipv4) check(s.src.is_v4() && s.dst.is_v4(), "IPv4 addresses not v4-mapped");
    if (s.arp)
        check(s.network == Network::none && s.status == Status::non_ip && s.src.is_v4() && s.dst.is_v4(),
              "ARP addresses on an IP row, or not IPv4");
    if (s.network == Network::none && !s.arp)
        check(s.src == Address{} && s.dst == Address{} && s.ip_proto == 0, "addresses set without an IP layer");
    if (s.network == Network::none) check(s.ip_proto == 0, "a protocol without an IP layer");
    check(s.status == again.status && s.network == again.network && s.src == again.src && s.dst == again.dst &&
              s.src_port == again.src_port && s.dst_port == again.dst_port && s.ip_proto == again.ip_proto &&
              s.ethertype == again.ethertype && s.has_ports == again.has_ports && s.fragment == again.fragment &&
              s.arp == again.arp && s.tunnel == again.tunnel && s.tunnel_id == again.tunnel_id &&
              s.has_tunnel_id == again.has_tunnel_id && s.tunnel_layers == again.tunnel_layers &&
              s.outer_network == again.outer_network && s.outer_src == again.outer_src &&
              s.outer_dst == again.outer_dst,
          "decode is not deterministic");

    PacketView view;
    view.capture = 1;
    view.seq = 0;
    view.ts_ns = 1'490'492'402'000'000'000;
    view.caplen = static_cast<std::uint32_t>(frame.size());
    view.wirelen = view.caplen;
    view.file_offset = 24;
    view.linktype = linktype;
    view.summary = s;
    view.preview = frame.first(std::min<std::size_t>(frame.size(), kMaxPreviewBytes));
    // One output format per input (formatting costs more than decoding).
    constexpr OutputFormat kFormats[] = {OutputFormat::line, OutputFormat::long_form, OutputFormat::json,
                                         OutputFormat::csv};
    fmt::memory_buffer out;
    format_row(out, kFormats[size % 4], view);
    for (char c : std::string_view(out.data(), out.size()))
        check(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f,
              "control or non-ASCII byte in formatted output");
    (void)ethertype_name(s.ethertype);
    (void)link_type_name(linktype);
    return 0;
}
