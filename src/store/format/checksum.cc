#include "store/format/checksum.h"

#include "util/crc32c.h"

namespace capdb::store {

namespace {

std::uint32_t read_trailer(std::span<const std::uint8_t> t) noexcept {
    return static_cast<std::uint32_t>(t[0]) | static_cast<std::uint32_t>(t[1]) << 8 |
           static_cast<std::uint32_t>(t[2]) << 16 | static_cast<std::uint32_t>(t[3]) << 24;
}

}  // namespace

std::array<std::uint8_t, 8> key_bytes(std::int64_t v) noexcept {
    std::array<std::uint8_t, 8> b{};
    const auto u = static_cast<std::uint64_t>(v);
    for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(u >> (8 * i));
    return b;
}

std::uint32_t page_crc(std::int64_t page_id, std::span<const std::uint8_t> frame) noexcept {
    const auto key = key_bytes(page_id);
    return crc32c(frame, crc32c(key));
}

std::uint32_t postings_crc(std::span<const std::uint8_t> addr, std::int64_t first_block,
                           std::span<const std::uint8_t> list) noexcept {
    const auto key = key_bytes(first_block);
    return crc32c(list, crc32c(key, crc32c(addr)));
}

std::uint32_t aggregates_crc(std::int64_t block_id, std::span<const std::uint8_t> frame) noexcept {
    static constexpr std::array<std::uint8_t, 4> kDomain{'a', 'g', 'g', 0};  // not a page of the same number
    const auto key = key_bytes(block_id);
    return crc32c(frame, crc32c(key, crc32c(kDomain)));
}

std::uint32_t aggregate_tables_crc(std::int64_t block_id, std::span<const std::uint8_t> frame) noexcept {
    static constexpr std::array<std::uint8_t, 4> kDomain{'a', 'g', 't', 0};
    const auto key = key_bytes(block_id);
    return crc32c(frame, crc32c(key, crc32c(kDomain)));
}

std::optional<std::span<const std::uint8_t>> checked_aggregates(std::int64_t block_id,
                                                                std::span<const std::uint8_t> blob,
                                                                bool tables) noexcept {
    if (blob.size() < kTrailerBytes) return std::nullopt;
    const auto body = blob.first(blob.size() - kTrailerBytes);
    const std::uint32_t crc = tables ? aggregate_tables_crc(block_id, body) : aggregates_crc(block_id, body);
    if (read_trailer(blob.last(kTrailerBytes)) != crc) return std::nullopt;
    return body;
}

void append_trailer(std::vector<std::uint8_t>& blob, std::uint32_t crc) {
    for (int i = 0; i < 4; ++i) blob.push_back(static_cast<std::uint8_t>(crc >> (8 * i)));
}

std::optional<std::span<const std::uint8_t>> checked_page(std::int64_t page_id,
                                                          std::span<const std::uint8_t> blob) noexcept {
    if (blob.size() < kTrailerBytes) return std::nullopt;
    const auto body = blob.first(blob.size() - kTrailerBytes);
    if (read_trailer(blob.last(kTrailerBytes)) != page_crc(page_id, body)) return std::nullopt;
    return body;
}

std::optional<std::span<const std::uint8_t>> checked_postings(std::span<const std::uint8_t> addr,
                                                              std::int64_t first_block,
                                                              std::span<const std::uint8_t> blob) noexcept {
    if (blob.size() < kTrailerBytes) return std::nullopt;
    const auto body = blob.first(blob.size() - kTrailerBytes);
    if (read_trailer(blob.last(kTrailerBytes)) != postings_crc(addr, first_block, body)) return std::nullopt;
    return body;
}

}  // namespace capdb::store
