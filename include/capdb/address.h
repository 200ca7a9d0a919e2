// IP addresses and prefixes as capdb stores and filters them.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace capdb {

// Room Address::write needs: INET6_ADDRSTRLEN. The longest text is 39
// characters ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").
inline constexpr std::size_t kMaxAddressText = 46;

// An IPv4 or IPv6 address in 16 network-order bytes. IPv4 is stored
// IPv4-mapped (::ffff:a.b.c.d) so both families sort in one keyspace.
struct Address {
    std::array<std::uint8_t, 16> bytes{};

    static Address from_v4(const std::uint8_t* four) noexcept;
    static Address from_v6(const std::uint8_t* sixteen) noexcept;
    [[nodiscard]] bool is_v4() const noexcept;
    // tcpdump-style text: dotted quad for IPv4, RFC 5952 for IPv6.
    [[nodiscard]] std::string to_string() const;
    // Writes to_string()'s text, without a NUL, to out and returns its end.
    // out must have room for kMaxAddressText bytes; the bytes between the
    // returned end and out + kMaxAddressText may be overwritten.
    char* write(char* out) const noexcept;

    friend auto operator<=>(const Address&, const Address&) = default;
    // Spelled out: the defaulted one calls memcmp, and equality is what the
    // storage thread's hash maps ask for every address of every block.
    friend bool operator==(const Address& a, const Address& b) noexcept {
        return std::memcmp(a.bytes.data(), b.bytes.data(), sizeof a.bytes) == 0;
    }
};

// A CIDR prefix; a plain address is a prefix of full length.
struct Prefix {
    Address first;  // lowest address covered
    Address last;   // highest address covered

    [[nodiscard]] bool contains(const Address& a) const noexcept { return first <= a && a <= last; }
    [[nodiscard]] bool is_single() const noexcept { return first == last; }
};

// Parses "192.0.2.1", "2001:db8::1", "10.0.0.0/8", "2001:db8::/32".
// Returns std::nullopt for anything else (no partial matches, no host bits
// check: 10.1.2.3/8 means 10.0.0.0/8, as in tcpdump's "net").
std::optional<Address> parse_address(std::string_view text) noexcept;
std::optional<Prefix> parse_prefix(std::string_view text) noexcept;

}  // namespace capdb
