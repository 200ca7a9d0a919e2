// The libpcap functions capdb calls. Only the capture module includes this
// header (and so pcap.h).
#pragma once

#include <pcap/pcap.h>

namespace capdb {

// Every libpcap function capdb calls, with its declared type.
#define CAPDB_PCAP_FUNCTIONS(X)                                                                   \
    X(pcap_activate) X(pcap_breakloop) X(pcap_close) X(pcap_compile) X(pcap_create)               \
    X(pcap_datalink) X(pcap_dispatch) X(pcap_file) X(pcap_findalldevs)                            \
    X(pcap_fopen_offline_with_tstamp_precision) X(pcap_freealldevs) X(pcap_freecode)              \
    X(pcap_get_selectable_fd) X(pcap_get_tstamp_precision) X(pcap_geterr) X(pcap_is_swapped)      \
    X(pcap_lookupnet) X(pcap_next_ex) X(pcap_set_buffer_size) X(pcap_set_promisc)                 \
    X(pcap_set_snaplen) X(pcap_set_timeout) X(pcap_set_tstamp_precision) X(pcap_setfilter)        \
    X(pcap_setnonblock) X(pcap_snapshot) X(pcap_stats) X(pcap_statustostr)

struct PcapApi {
#define CAPDB_PCAP_MEMBER(name) decltype(&::name) name = nullptr;
    CAPDB_PCAP_FUNCTIONS(CAPDB_PCAP_MEMBER)
#undef CAPDB_PCAP_MEMBER
};

// libpcap's functions (linked the ordinary way).
const PcapApi& libpcap();

}  // namespace capdb
