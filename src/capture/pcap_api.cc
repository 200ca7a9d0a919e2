#include "capture/pcap_api.h"

#include <dlfcn.h>

#include <array>
#include <string>

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb {

namespace {

// Debian and Ubuntu name the library libpcap.so.0.8, most other systems
// libpcap.so.1; libpcap.so exists where the development files are installed.
constexpr std::array kLibraryNames{"libpcap.so.0.8", "libpcap.so.1", "libpcap.so"};

// Sets fn to the library's function of that name.
template <class Fn>
void resolve(void* handle, Fn& fn, const char* name) {
    fn = reinterpret_cast<Fn>(::dlsym(handle, name));
    if (!fn) throw Error(Exit::internal, fmt::format("libpcap lacks {} (libpcap 1.5 or newer is needed)", name));
}

PcapApi load() {
    void* handle = nullptr;
    std::string errors;
    for (const char* name : kLibraryNames) {
        handle = ::dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (handle) break;
        const char* why = ::dlerror();
        errors += fmt::format("{}{}", errors.empty() ? "" : "; ", why ? why : name);
    }
    if (!handle) throw Error(Exit::internal, fmt::format("cannot load libpcap: {}", errors));
    // The handle stays open for the life of the process: the functions below
    // are used until exit.
    PcapApi api;
#define CAPDB_PCAP_RESOLVE(name) resolve(handle, api.name, #name);
    CAPDB_PCAP_FUNCTIONS(CAPDB_PCAP_RESOLVE)
#undef CAPDB_PCAP_RESOLVE
    return api;
}

}  // namespace

const PcapApi& libpcap() {
    static const PcapApi api = load();
    return api;
}

}  // namespace capdb
