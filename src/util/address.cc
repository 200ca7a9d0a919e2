// Address text conversion. Parsing is strict and hand-written (no locale, no
// inet_aton leniency): what it accepts is exactly what capdb documents.
//
// Accepted forms:
//   IPv4  four decimal parts 0-255 separated by '.', each 1-3 digits with no
//         sign and no leading zero ("01.2.3.4" is rejected: inet_aton would
//         read it as octal, so refusing it is the only unambiguous choice).
//   IPv6  RFC 4291 text: up to eight groups of 1-4 hex digits (either case),
//         at most one "::" standing for one or more zero groups, optionally
//         ending in an embedded dotted quad ("::ffff:192.0.2.1"). No zone
//         ("%eth0"), no brackets, no surrounding white space.
//   Prefix  address "/" length, length in decimal without leading zeros,
//         0-32 after IPv4 text and 0-128 after IPv6 text.
#include "capdb/address.h"

#include <cstddef>
#include <cstring>

namespace capdb {
namespace {

using V4 = std::array<std::uint8_t, 4>;
using V6 = std::array<std::uint8_t, 16>;

constexpr std::size_t kV4MappedOffset = 12;  // a.b.c.d sits in bytes 12-15

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// A decimal number of 1..max_digits digits without a leading zero (a lone
// "0" is fine), or std::nullopt.
std::optional<unsigned> parse_decimal(std::string_view text, std::size_t max_digits) noexcept {
    if (text.empty() || text.size() > max_digits) return std::nullopt;
    if (text.size() > 1 && text.front() == '0') return std::nullopt;
    unsigned value = 0;
    for (char c : text) {
        if (!is_digit(c)) return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value;
}

std::optional<V4> parse_v4(std::string_view text) noexcept {
    V4 out{};
    for (std::size_t i = 0; i < out.size(); ++i) {
        const std::size_t dot = text.find('.');
        const bool last = i + 1 == out.size();
        // The last part must run to the end; the others must end in a dot.
        if (last != (dot == std::string_view::npos)) return std::nullopt;
        const auto part = parse_decimal(text.substr(0, dot), 3);
        if (!part || *part > 255) return std::nullopt;
        out[i] = static_cast<std::uint8_t>(*part);
        if (!last) text.remove_prefix(dot + 1);
    }
    return out;
}

std::optional<V6> parse_v6(std::string_view text) noexcept {
    std::array<std::uint16_t, 8> words{};
    std::size_t count = 0;                     // groups written to words
    std::size_t gap = std::string_view::npos;  // index in words where "::" stands
    std::size_t pos = 0;

    if (text.starts_with("::")) {
        gap = 0;
        pos = 2;
    } else if (text.starts_with(':')) {
        return std::nullopt;
    }

    while (pos < text.size()) {
        std::size_t end = text.find(':', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view group = text.substr(pos, end - pos);

        if (group.find('.') != std::string_view::npos) {
            // An embedded IPv4 tail: the last thing in the text, worth two groups.
            if (end != text.size() || count > 6) return std::nullopt;
            const auto v4 = parse_v4(group);
            if (!v4) return std::nullopt;
            words[count++] = static_cast<std::uint16_t>(((*v4)[0] << 8) | (*v4)[1]);
            words[count++] = static_cast<std::uint16_t>(((*v4)[2] << 8) | (*v4)[3]);
            pos = end;
            break;
        }

        if (group.empty() || group.size() > 4 || count == words.size()) return std::nullopt;
        unsigned value = 0;
        for (char c : group) {
            const int digit = hex_value(c);
            if (digit < 0) return std::nullopt;
            value = value * 16 + static_cast<unsigned>(digit);
        }
        words[count++] = static_cast<std::uint16_t>(value);

        if (end == text.size()) {
            pos = end;
            break;
        }
        if (end + 1 < text.size() && text[end + 1] == ':') {
            if (gap != std::string_view::npos) return std::nullopt;  // a second "::"
            gap = count;
            pos = end + 2;
        } else {
            pos = end + 1;
            if (pos == text.size()) return std::nullopt;  // trailing single ':'
        }
    }

    if (gap == std::string_view::npos) {
        if (count != words.size()) return std::nullopt;
    } else {
        if (count > words.size() - 1) return std::nullopt;  // "::" stands for >= 1 group
        const std::size_t moved = count - gap;
        const std::size_t shift = words.size() - count;
        for (std::size_t i = 0; i < moved; ++i) {
            const std::size_t from = count - 1 - i;
            words[from + shift] = words[from];
            words[from] = 0;
        }
    }

    V6 out{};
    for (std::size_t i = 0; i < words.size(); ++i) {
        out[2 * i] = static_cast<std::uint8_t>(words[i] >> 8);
        out[2 * i + 1] = static_cast<std::uint8_t>(words[i] & 0xff);
    }
    return out;
}

// "0." to "255.": each octet's digits and a dot, padded to four bytes so
// that one fixed-size copy writes any of them.
struct OctetText {
    std::array<char, 4> text;
    std::uint8_t size;  // digits plus the dot
};

constexpr std::array<OctetText, 256> kOctetText = [] {
    std::array<OctetText, 256> table{};
    for (unsigned v = 0; v < table.size(); ++v) {
        OctetText& t = table[v];
        std::size_t n = 0;
        if (v >= 100) t.text[n++] = static_cast<char>('0' + v / 100);
        if (v >= 10) t.text[n++] = static_cast<char>('0' + (v / 10) % 10);
        t.text[n++] = static_cast<char>('0' + v % 10);
        t.text[n++] = '.';
        t.size = static_cast<std::uint8_t>(n);
    }
    return table;
}();

// Writes "a.b.c.d" (at most 15 characters) and returns its end. Writes one
// scratch byte past the end.
char* write_dotted_quad(char* out, const std::uint8_t* four) noexcept {
    for (std::size_t i = 0; i < 4; ++i) {
        const OctetText& t = kOctetText[four[i]];
        std::memcpy(out, t.text.data(), t.text.size());
        out += t.size;
    }
    return out - 1;  // the last octet's dot
}

// Lowercase hex without leading zeros ("0" for zero).
char* write_hex_group(char* out, std::uint16_t w) noexcept {
    static constexpr char kDigits[] = "0123456789abcdef";
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
        const auto nibble = static_cast<std::size_t>((w >> shift) & 0xf);
        if (nibble != 0 || started || shift == 0) {
            *out++ = kDigits[nibble];
            started = true;
        }
    }
    return out;
}

}  // namespace

Address Address::from_v4(const std::uint8_t* four) noexcept {
    Address a;
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + kV4MappedOffset, four, 4);
    return a;
}

Address Address::from_v6(const std::uint8_t* sixteen) noexcept {
    Address a;
    std::memcpy(a.bytes.data(), sixteen, a.bytes.size());
    return a;
}

bool Address::is_v4() const noexcept {
    static constexpr std::uint8_t kMappedPrefix[kV4MappedOffset] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), kMappedPrefix, kV4MappedOffset) == 0;
}

// IPv6 follows RFC 5952 the way glibc's inet_ntop (and so tcpdump and tshark)
// applies it: lowercase, no leading zeros, the longest run of two or more zero
// groups (the first on a tie) becomes "::". One extra rule is kept for output
// identical to those tools: an address whose first six groups are zero and
// whose seventh is not (deprecated IPv4-compatible, e.g. ::102:304) prints
// as "::1.2.3.4". IPv4-mapped addresses print as a plain dotted quad.
char* Address::write(char* out) const noexcept {
    if (is_v4()) return write_dotted_quad(out, bytes.data() + kV4MappedOffset);

    std::array<std::uint16_t, 8> words{};
    for (std::size_t i = 0; i < words.size(); ++i) {
        words[i] = static_cast<std::uint16_t>((bytes[2 * i] << 8) | bytes[2 * i + 1]);
    }

    std::size_t best_base = words.size();
    std::size_t best_len = 0;
    for (std::size_t i = 0; i < words.size();) {
        if (words[i] != 0) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < words.size() && words[j] == 0) ++j;
        if (j - i > best_len) {
            best_base = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2) best_base = words.size();  // a single zero group stays "0"

    if (best_base == 0 && best_len == 6) {
        *out++ = ':';
        *out++ = ':';
        return write_dotted_quad(out, bytes.data() + kV4MappedOffset);
    }
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (i == best_base) {
            *out++ = ':';
            *out++ = ':';
            i += best_len - 1;
            continue;
        }
        if (i != 0 && i != best_base + best_len) *out++ = ':';
        out = write_hex_group(out, words[i]);
    }
    return out;
}

std::string Address::to_string() const {
    std::array<char, kMaxAddressText> buf;
    return std::string(buf.data(), write(buf.data()));
}

std::optional<Address> parse_address(std::string_view text) noexcept {
    if (text.find(':') != std::string_view::npos) {
        const auto v6 = parse_v6(text);
        if (!v6) return std::nullopt;
        return Address::from_v6(v6->data());
    }
    const auto v4 = parse_v4(text);
    if (!v4) return std::nullopt;
    return Address::from_v4(v4->data());
}

std::optional<Prefix> parse_prefix(std::string_view text) noexcept {
    const std::size_t slash = text.find('/');
    const auto address = parse_address(text.substr(0, slash));
    if (!address) return std::nullopt;
    if (slash == std::string_view::npos) return Prefix{*address, *address};

    // IPv4 text means an IPv4 prefix even though the address is stored
    // mapped; IPv6 text (including "::ffff:a.b.c.d") means an IPv6 prefix.
    const bool v4_text = text.substr(0, slash).find(':') == std::string_view::npos;
    const auto length = parse_decimal(text.substr(slash + 1), 3);
    if (!length || *length > (v4_text ? 32u : 128u)) return std::nullopt;
    const std::size_t bits = v4_text ? 96 + *length : *length;

    Prefix p{*address, *address};
    for (std::size_t i = bits; i < 128; ++i) {
        const std::size_t byte = i / 8;
        const auto mask = static_cast<std::uint8_t>(0x80u >> (i % 8));
        p.first.bytes[byte] = static_cast<std::uint8_t>(p.first.bytes[byte] & ~mask);
        p.last.bytes[byte] = static_cast<std::uint8_t>(p.last.bytes[byte] | mask);
    }
    return p;
}

}  // namespace capdb
