#include "capture/pcap_api.h"

namespace capdb {

const PcapApi& libpcap() {
    static const PcapApi api = [] {
        PcapApi a;
#define CAPDB_PCAP_BIND(name) a.name = &::name;
        CAPDB_PCAP_FUNCTIONS(CAPDB_PCAP_BIND)
#undef CAPDB_PCAP_BIND
        return a;
    }();
    return api;
}

}  // namespace capdb
