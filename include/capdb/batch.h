// PacketBatch: decoded packets on their way from a reader (file or live) to
// a store's writer, the one unit that is filled, queued and encoded.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "capdb/packet.h"

namespace capdb {

// A live capture's libpcap statistics at one moment (wall clock), totals
// since the capture started: kept so that stats can say when drops happened.
struct LiveSample {
    std::int64_t ts_ns = 0;
    std::uint64_t received = 0;
    std::uint64_t dropped = 0;  // by the kernel and the interface
    bool operator==(const LiveSample&) const = default;
};

// One interface of a capture as the store keeps it (the interfaces table).
struct InterfaceRecord {
    std::uint32_t if_index = 0;
    std::string name;  // empty when the file names none
    std::string description;
    std::uint32_t linktype = 0;  // DLT
    std::uint32_t snaplen = 0;
    std::uint32_t ts_precision = 6;  // decimal digits
};

// Packets per committed block unless --batch says otherwise: every ingest's
// default, defined here only.
inline constexpr std::uint32_t kDefaultCommitPackets = 65536;
// Most packets a reader puts in one PacketBatch before handing it over.
inline constexpr std::uint32_t kBatchPackets = 4096;
// Decoded packets waiting for storage are held in memory up to this many
// bytes. Live capture: a slow commit (a WAL checkpoint's fsync) costs queue
// space, not packets. A file reader can wait, and needs only enough to keep
// the storage thread busy.
inline constexpr std::size_t kDefaultQueueBytes = std::size_t{64} << 20;
inline constexpr std::size_t kFileQueueBytes = std::size_t{4} << 20;

// Packets of one capture in file order, each with its summary; previews are
// copied into one arena and, when the capture keeps its packets (the packet
// store), the captured bytes into another (payload). Filled by the reader,
// moved into the writer, which hands it back empty (with its capacity) for
// reuse.
struct PacketBatch {
    struct Packet {
        std::int64_t ts_ns;
        std::uint32_t caplen;
        std::uint32_t wirelen;
        std::int64_t file_offset;  // -1 unknown
        Summary summary;
        std::uint32_t preview_off;  // in arena
        std::uint32_t preview_len;
        bool time_invalid;
        std::uint32_t linktype;      // DLT of its interface
        std::uint32_t if_index;      // its interface in the capture
        std::uint32_t data_off = 0;  // in payload
        std::uint32_t data_len = 0;  // captured bytes kept; 0 when the batch keeps none
    };
    std::vector<Packet> packets;
    std::vector<std::uint8_t> arena;
    std::vector<std::uint8_t> payload;  // whole captured packets (add_with_data)
    // Interfaces first seen by the packets of this batch (pcapng describes
    // them as it goes); stored with the first block that holds them.
    std::vector<InterfaceRecord> interfaces;
    // Live captures: statistics taken since the previous batch; stored with
    // the next block that commits.
    std::vector<LiveSample> live_samples;
    // Packets copied from another store (capdb push) keep their numbers in
    // their capture: one per packet, in packets' order. Empty: the writer
    // numbers the packets in the order appended (every reader). Only the
    // ClickHouse writer reads it.
    std::vector<std::uint64_t> seqs;

    // Appends a packet; preview is copied.
    void add(std::int64_t ts_ns, std::uint32_t caplen, std::uint32_t wirelen, std::int64_t file_offset,
             const Summary& summary, std::span<const std::uint8_t> preview, bool time_invalid, std::uint32_t linktype,
             std::uint32_t if_index = 0) {
        packets.push_back({ts_ns, caplen, wirelen, file_offset, summary, static_cast<std::uint32_t>(arena.size()),
                           static_cast<std::uint32_t>(preview.size()), time_invalid, linktype, if_index});
        arena.insert(arena.end(), preview.begin(), preview.end());
    }
    // Appends a packet and keeps its captured bytes (data, caplen of them)
    // for the packet store; preview and data are copied.
    void add_with_data(std::int64_t ts_ns, std::uint32_t wirelen, std::int64_t file_offset, const Summary& summary,
                       std::span<const std::uint8_t> data, std::uint32_t preview_len, bool time_invalid,
                       std::uint32_t linktype, std::uint32_t if_index = 0) {
        const auto caplen = static_cast<std::uint32_t>(data.size());
        add(ts_ns, caplen, wirelen, file_offset, summary, data.first(std::min(data.size(), std::size_t{preview_len})),
            time_invalid, linktype, if_index);
        packets.back().data_off = static_cast<std::uint32_t>(payload.size());
        packets.back().data_len = caplen;
        payload.insert(payload.end(), data.begin(), data.end());
    }
    void add(const PacketView& p) {
        add(p.ts_ns, p.caplen, p.wirelen, p.file_offset, p.summary, p.preview, p.time_invalid, p.linktype, p.if_index);
    }
    [[nodiscard]] std::span<const std::uint8_t> preview(const Packet& p) const noexcept {
        return {arena.data() + p.preview_off, p.preview_len};
    }
    // The captured bytes kept by add_with_data(); empty otherwise.
    [[nodiscard]] std::span<const std::uint8_t> data(const Packet& p) const noexcept {
        return {payload.data() + p.data_off, p.data_len};
    }
    [[nodiscard]] std::size_t size() const noexcept { return packets.size(); }
    [[nodiscard]] bool empty() const noexcept { return packets.empty(); }
    // Memory held, for byte-bounded queues.
    [[nodiscard]] std::size_t bytes() const noexcept {
        return sizeof(PacketBatch) + packets.capacity() * sizeof(Packet) + arena.capacity() + payload.capacity();
    }
    void clear() noexcept {
        packets.clear();
        arena.clear();
        payload.clear();
        interfaces.clear();
        live_samples.clear();
        seqs.clear();
    }
};

}  // namespace capdb
