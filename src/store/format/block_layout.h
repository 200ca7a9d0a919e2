// Sizes shared by the store's formats: a block is cut into pages of at most
// kPageRows packets, at most kMaxPagesPerBlock of them. A page's id in the
// pages table is block id * kMaxPagesPerBlock + its number in the block.
#pragma once

#include <cstdint>
#include <span>

#include "capdb/address.h"

namespace capdb::store {

inline constexpr std::uint32_t kPageRows = 256;
inline constexpr std::uint32_t kMaxPagesPerBlock = 256;
inline constexpr std::uint32_t kMaxBlockRows = kMaxPagesPerBlock * kPageRows;

// How pages and posting lists store an address: its 4 bytes for IPv4, 16
// for IPv6. A view into a, valid as long as a is.
std::span<const std::uint8_t> address_key(const Address& a) noexcept;

}  // namespace capdb::store
