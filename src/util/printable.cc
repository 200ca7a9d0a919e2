#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb {

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || u >= 0x80 || c == '\\') {
            if (c == '\\')
                out += "\\\\";
            else
                out += fmt::format("\\x{:02x}", u);
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace capdb
