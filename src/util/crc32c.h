// CRC32C (Castagnoli, polynomial 0x1EDC6F41 reflected: 0x82F63B78), the
// checksum of capdb's stored pages, posting lists and rows (see DESIGN.md,
// "Checksums"). The SSE4.2 crc32 instruction when the CPU has it, else
// tables (slice by 8).
#pragma once

#include <cstdint>
#include <span>

namespace capdb {

// The CRC32C of bytes, continuing from crc (the CRC of what came before;
// 0 to start): crc32c(a + b) == crc32c(b, crc32c(a)).
std::uint32_t crc32c(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0) noexcept;

// The table-driven implementation alone (tests compare the two).
std::uint32_t crc32c_portable(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0) noexcept;

}  // namespace capdb
