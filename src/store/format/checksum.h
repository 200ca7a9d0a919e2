// Checksums of the stored structures a query trusts (see DESIGN.md,
// "Checksums"). A page's blob and a posting list's blob end with a 4-byte
// trailer: the little-endian CRC32C of the structure's key (what names it)
// followed by its bytes, so that a blob found under another key fails too.
// Rows (blocks, captures, interfaces) carry a checksum column computed by
// the SQL function capdb_check() (store/sqlite/sqlite.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace capdb::store {

inline constexpr std::size_t kTrailerBytes = 4;

// The CRC32C of a page (pages.id, then its zstd frame).
std::uint32_t page_crc(std::int64_t page_id, std::span<const std::uint8_t> frame) noexcept;
// The CRC32C of a posting list (its address key, first block, then the list).
std::uint32_t postings_crc(std::span<const std::uint8_t> addr, std::int64_t first_block,
                           std::span<const std::uint8_t> list) noexcept;

// The CRC32C of a block's aggregates ("agg\0", blocks.id, then the frame)
// and of their tables ("agt\0", blocks.id, the tables' frame).
std::uint32_t aggregates_crc(std::int64_t block_id, std::span<const std::uint8_t> frame) noexcept;
std::uint32_t aggregate_tables_crc(std::int64_t block_id, std::span<const std::uint8_t> frame) noexcept;
std::optional<std::span<const std::uint8_t>> checked_aggregates(std::int64_t block_id,
                                                                std::span<const std::uint8_t> blob,
                                                                bool tables = false) noexcept;

// Appends crc as the trailer.
void append_trailer(std::vector<std::uint8_t>& blob, std::uint32_t crc);

// The stored blob without its trailer, or nullopt when it is shorter than a
// trailer or the trailer is not the CRC of its key and body.
std::optional<std::span<const std::uint8_t>> checked_page(std::int64_t page_id,
                                                          std::span<const std::uint8_t> blob) noexcept;
std::optional<std::span<const std::uint8_t>> checked_postings(std::span<const std::uint8_t> addr,
                                                              std::int64_t first_block,
                                                              std::span<const std::uint8_t> blob) noexcept;

// The 8 little-endian bytes an integer key is checksummed as.
std::array<std::uint8_t, 8> key_bytes(std::int64_t v) noexcept;

}  // namespace capdb::store
