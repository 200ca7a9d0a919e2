// Byte primitives of capdb's stored formats (pages, page indexes, posting
// lists): base-128 varints, zig-zag signed integers, a bounds-checked reader
// of bytes read back from the database and an unchecked writer into memory
// sized for the worst case. One home for both directions, as libtins'
// memory_helpers.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace capdb {

// Appends v as a little-endian base-128 varint (1 to 10 bytes).
inline void put_varint(std::vector<std::uint8_t>& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<std::uint8_t>(v | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(v));
}

// Zig-zag: small magnitudes of either sign become small unsigned numbers.
constexpr std::uint64_t zigzag(std::int64_t v) noexcept {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
constexpr std::int64_t unzigzag(std::uint64_t v) noexcept {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Two's-complement addition: values read back from a database may hold any
// deltas, and signed overflow must not be undefined behaviour.
constexpr std::int64_t wrapping_add(std::int64_t a, std::int64_t b) noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}
constexpr std::int64_t wrapping_sub(std::int64_t a, std::int64_t b) noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}

// Bounds-checked reader over bytes read back from the database. An overrun
// means the database is corrupt: every read that fails throws DatabaseError
// "corrupt <what> in database (<why>)", where what names the structure
// being read ("packet page", "posting list", ...).
class StoredReader {
public:
    StoredReader(std::span<const std::uint8_t> b, const char* what) noexcept : b_(b), what_(what) {}
    [[nodiscard]] bool done() const noexcept { return pos_ == b_.size(); }
    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            if (pos_ >= b_.size()) corrupt("varint past end");
            const std::uint8_t c = b_[pos_++];
            v |= std::uint64_t{c & 0x7fu} << shift;
            if (!(c & 0x80)) return v;
        }
        corrupt("varint too long");
    }
    std::uint8_t u8() {
        if (pos_ >= b_.size()) corrupt("byte past end");
        return b_[pos_++];
    }
    std::uint16_t be16() {
        if (b_.size() - pos_ < 2) corrupt("u16 past end");
        auto v = static_cast<std::uint16_t>((b_[pos_] << 8) | b_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    std::span<const std::uint8_t> take(std::size_t n) {
        if (b_.size() - pos_ < n) corrupt("field past end");
        auto s = b_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    // Throws DatabaseError naming what is read and why it is corrupt.
    [[noreturn]] void corrupt(const char* why) const;

private:
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
    const char* what_;
};

// Writes into memory the caller has sized for the worst case: no capacity
// check per byte (the bounds of what is written are known beforehand).
struct ByteWriter {
    std::uint8_t* p;
    void byte(std::uint8_t b) noexcept { *p++ = b; }
    void be16(std::uint16_t v) noexcept {
        p[0] = static_cast<std::uint8_t>(v >> 8);
        p[1] = static_cast<std::uint8_t>(v);
        p += 2;
    }
    void varint(std::uint64_t v) noexcept {
        while (v >= 0x80) {
            *p++ = static_cast<std::uint8_t>(v | 0x80);
            v >>= 7;
        }
        *p++ = static_cast<std::uint8_t>(v);
    }
    void bytes(const std::uint8_t* src, std::size_t n) noexcept {
        if (n == 0) return;  // src may be null then, which memcpy does not allow
        std::memcpy(p, src, n);
        p += n;
    }
};

}  // namespace capdb
