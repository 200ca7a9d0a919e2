// Bounds-checked reader over packet bytes. Every read of packet memory in
// capdb goes through ByteCursor: a read past the end fails softly (returns
// std::nullopt / false) and leaves the cursor where it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace capdb {

class ByteCursor {
public:
    constexpr ByteCursor() noexcept = default;
    constexpr explicit ByteCursor(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}

    [[nodiscard]] constexpr std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
    [[nodiscard]] constexpr std::size_t position() const noexcept { return pos_; }
    [[nodiscard]] constexpr bool can_read(std::size_t n) const noexcept { return n <= remaining(); }

    [[nodiscard]] std::optional<std::uint8_t> u8() noexcept {
        if (!can_read(1)) return std::nullopt;
        return bytes_[pos_++];
    }
    [[nodiscard]] std::optional<std::uint16_t> be16() noexcept {
        if (!can_read(2)) return std::nullopt;
        auto v = static_cast<std::uint16_t>((bytes_[pos_] << 8) | bytes_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    [[nodiscard]] std::optional<std::uint16_t> le16() noexcept {
        if (!can_read(2)) return std::nullopt;
        auto v = static_cast<std::uint16_t>((bytes_[pos_ + 1] << 8) | bytes_[pos_]);
        pos_ += 2;
        return v;
    }
    [[nodiscard]] std::optional<std::uint32_t> be32() noexcept {
        if (!can_read(4)) return std::nullopt;
        std::uint32_t v = 0;
        for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | bytes_[pos_ + i];
        pos_ += 4;
        return v;
    }
    [[nodiscard]] std::optional<std::uint32_t> le32() noexcept {
        if (!can_read(4)) return std::nullopt;
        std::uint32_t v = 0;
        for (std::size_t i = 4; i > 0; --i) v = (v << 8) | bytes_[pos_ + i - 1];
        pos_ += 4;
        return v;
    }
    // Advances by n bytes; false (and no move) if fewer than n remain.
    [[nodiscard]] bool skip(std::size_t n) noexcept {
        if (!can_read(n)) return false;
        pos_ += n;
        return true;
    }
    // The next n bytes as a view, advancing past them.
    [[nodiscard]] std::optional<std::span<const std::uint8_t>> take(std::size_t n) noexcept {
        if (!can_read(n)) return std::nullopt;
        auto s = bytes_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    // Copies n bytes into out without advancing past the end.
    [[nodiscard]] bool copy_to(void* out, std::size_t n) noexcept {
        if (!can_read(n)) return false;
        if (n != 0) std::memcpy(out, bytes_.data() + pos_, n);
        pos_ += n;
        return true;
    }
    // The unread bytes, without advancing.
    [[nodiscard]] std::span<const std::uint8_t> rest() const noexcept { return bytes_.subspan(pos_); }

private:
    std::span<const std::uint8_t> bytes_{};
    std::size_t pos_ = 0;
};

}  // namespace capdb
