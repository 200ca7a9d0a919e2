// The commands that read captures, run in this process: ingest (files and
// live) and interfaces. They use libpcap.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/error.h"
#include "capdb/ingest.h"
#include "capdb/live.h"
#include "capdb/store.h"
#include "cli/cli.h"

namespace capdb::cli {
namespace {

// --batch and --preview-bytes, checked once for files and live capture;
// unset, they keep the library's defaults in options.
template <typename Options>
Options store_options(const IngestArgs& a) {
    Options o;
    if (a.batch) {
        if (*a.batch == 0) throw UsageError("--batch must be at least 1");
        o.batch = *a.batch;
    }
    if (a.preview_bytes) {
        if (*a.preview_bytes > kMaxPreviewBytes)
            throw UsageError(fmt::format("--preview-bytes must be at most {}", kMaxPreviewBytes));
        o.preview_bytes = *a.preview_bytes;
    }
    return o;
}

// The store's options: --segment-size checked.
StoreOptions writable_store(const IngestArgs& a) {
    StoreOptions o{.read_only = false, .create = true};
    if (a.sensor) {
        if (a.sensor->empty() || a.sensor->size() > 255) throw UsageError("--sensor: a name of 1 to 255 bytes");
        o.sensor = *a.sensor;
    }
    o.timeout_ms = timeout_ms(a.timeout);
    if (a.segment_size) {
        if (*a.segment_size < 4096) throw UsageError("--segment-size must be at least 4096 bytes");
        o.segment_bytes = *a.segment_size;
    }
    if (a.max_size) {
        if (a.no_packets)
            throw UsageError("--max-size bounds the packet store: it cannot be combined with --no-packets");
        if (*a.max_size < 2 * o.segment_bytes)
            throw UsageError(
                fmt::format("--max-size must be at least twice the segment size ({} bytes)", 2 * o.segment_bytes));
        o.max_bytes = *a.max_size;
    }
    return o;
}

std::chrono::nanoseconds parse_duration(double seconds) {
    if (!std::isfinite(seconds) || seconds <= 0 || seconds > 1e9)
        throw UsageError("--duration must be a positive number of seconds");
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(seconds));
}

// tcpdump's "N packets captured" wording.
void print_count(std::uint64_t n, const char* what) {
    std::fprintf(stderr, "%llu packet%s %s\n", static_cast<unsigned long long>(n), n == 1 ? "" : "s", what);
}

int run_live(const IngestArgs& a) {
    LiveIngestOptions opts = store_options<LiveIngestOptions>(a);
    LiveOptions lo;
    lo.device = *a.live;
    if (lo.device.empty()) throw UsageError("--live: empty interface name (see 'capdb interfaces')");
    lo.filter = a.filter;
    if (!a.files.empty()) {
        if (!a.filter.empty())
            throw UsageError("give the capture filter either with --filter or as trailing words, not both");
        for (const std::string& word : a.files) lo.filter += (lo.filter.empty() ? "" : " ") + word;
    }
    if (a.snaplen) {
        if (*a.snaplen < 1 || *a.snaplen > kMaxSnaplen)
            throw UsageError(fmt::format("--snaplen must be between 1 and {}", kMaxSnaplen));
        lo.snaplen = static_cast<std::uint32_t>(*a.snaplen);
    }
    lo.promisc = !a.no_promisc;
    if (a.buffer_size) {
        if (*a.buffer_size == 0 || *a.buffer_size > static_cast<std::uint64_t>(INT_MAX))
            throw UsageError(fmt::format("--buffer-size must be between 1 and {} bytes", INT_MAX));
        lo.buffer_size = static_cast<std::uint32_t>(*a.buffer_size);
    }
    if (a.duration) opts.duration = parse_duration(*a.duration);
    if (a.count) {
        if (*a.count < 1) throw UsageError("--count must be at least 1");
        opts.count = static_cast<std::uint64_t>(*a.count);
    }
    opts.should_stop = [] { return g_stop != 0; };
    if (a.copy) throw UsageError("--copy applies to files; a live capture keeps its packets unless --no-packets");
    opts.keep_packets = !a.no_packets;
    const StoreOptions store_opts = writable_store(a);

    // The device first: a missing interface or a bad filter creates nothing.
    install_signal_handlers();
    LiveCapture capture(lo);
    for (const std::string& w : capture.warnings()) std::fprintf(stderr, "capdb: warning: %s\n", printable(w).c_str());
    auto store = open_store(database_path(a.db), store_opts);
    std::fprintf(stderr, "capdb: listening on %s, link-type %s, snapshot length %u bytes\n",
                 printable(capture.device()).c_str(), link_type_name(capture.linktype()).c_str(), capture.snaplen());
    const LiveOutcome r = ingest_live(*store, capture, opts);
    print_count(r.counts.packets, "captured");
    print_count(r.stats.received, "received by filter");
    print_count(r.stats.dropped_kernel, "dropped by kernel");
    if (r.stats.dropped_iface != 0) print_count(r.stats.dropped_iface, "dropped by interface");
    return 0;
}

// Opens a named file as a capture and closes it again; throws the InputError
// that ingest_file() would. Standard input, FIFOs and devices are left to be
// read once, by ingest_file() itself.
void check_readable(const std::string& path) {
    struct stat st {};
    if (path == "-" || (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) return;
    const OfflineReader probe(path);
}

}  // namespace

int run_ingest(const IngestArgs& a) {
    if (a.live) return run_live(a);
    if (a.files.empty()) throw UsageError("ingest: no capture file given (use - for standard input)");
    IngestOptions opts = store_options<IngestOptions>(a);
    if (a.duration && !a.follow) throw UsageError("--duration needs --live or --follow");
    if (a.follow) {
        if (a.files.size() != 1 || a.files.front() == "-")
            throw UsageError("--follow reads one capture file (not standard input, which is followed anyway)");
        struct stat st {};
        if (::stat(a.files.front().c_str(), &st) == 0 && !S_ISREG(st.st_mode))
            throw UsageError("--follow reads a regular file (a pipe or FIFO is read to its end anyway)");
        opts.follow = true;
        if (a.duration) opts.duration = parse_duration(*a.duration);
    }
    opts.copy = a.copy;
    opts.no_packets = a.no_packets;
    if (a.no_packets && std::find(a.files.begin(), a.files.end(), "-") == a.files.end())
        throw UsageError(
            "--no-packets applies to live capture and standard input; a file's packets are read from the file");
    const StoreOptions store_opts = writable_store(a);
    // Nothing is created unless at least one input can be read: the files
    // are tried in order up to the first readable one, and when there is
    // none, each gets its error line and the database is left alone.
    std::vector<InputError> unreadable;
    for (const std::string& file : a.files) {
        try {
            // A followed file may not have its header yet: it only needs to exist.
            if (a.follow) {
                struct stat st {};
                if (::stat(file.c_str(), &st) != 0)
                    throw InputError(fmt::format("'{}': {}", printable(file), std::strerror(errno)));
            } else {
                check_readable(file);
            }
            break;
        } catch (const InputError& e) {
            unreadable.push_back(e);
        }
    }
    if (unreadable.size() == a.files.size()) {
        for (const InputError& e : unreadable) std::fprintf(stderr, "capdb: error: %s\n", e.what());
        return static_cast<int>(Exit::input);
    }
    const std::string db_path = database_path(a.db);
    auto store = open_store(db_path, store_opts);
    install_signal_handlers();

    opts.progress = ::isatty(STDERR_FILENO) ? stderr : nullptr;
    opts.should_stop = [] { return g_stop != 0; };

    const auto start = std::chrono::steady_clock::now();
    PacketCounts total;
    Exit worst = Exit::ok;
    auto note = [&](Exit e) {
        if (worst == Exit::ok) worst = e;
    };
    for (const std::string& file : a.files) {
        if (g_stop) break;
        try {
            IngestOutcome r = ingest_file(*store, file, opts);
            for (const CaptureId id : r.replaced_damaged)
                std::fprintf(stderr, "capdb: capture %lld of '%s' was damaged; removed, ingesting the file again\n",
                             static_cast<long long>(id), printable(file).c_str());
            if (r.duplicate) {
                std::fprintf(stderr, "capdb: '%s' is already ingested (capture %lld); skipped\n",
                             printable(file).c_str(), static_cast<long long>(r.capture));
                continue;
            }
            if (r.resumed > 0)
                std::fprintf(stderr, "capdb: '%s' resumes capture %lld after its %llu committed packets\n",
                             printable(file).c_str(), static_cast<long long>(r.capture),
                             static_cast<unsigned long long>(r.resumed));
            total += r.counts;
            if (r.counts.unsupported > 0) {
                std::fprintf(stderr,
                             "capdb: warning: '%s': link type %s is not supported; %llu packets stored undecoded\n",
                             printable(file).c_str(), link_type_name(r.linktype).c_str(),
                             static_cast<unsigned long long>(r.counts.unsupported));
                note(Exit::unsupported);
            }
            if (r.interrupted) {
                std::fprintf(stderr, "capdb: '%s': interrupted%s; %llu packets committed\n", printable(file).c_str(),
                             a.follow ? " inside a record" : "", static_cast<unsigned long long>(r.counts.packets));
                note(Exit::interrupted);
            }
        } catch (const DatabaseError&) {
            throw;
        } catch (const DamagedCaptureError& e) {
            total += e.counts;  // committed before the damage
            std::fprintf(stderr, "capdb: error: %s\n", e.what());
            note(e.code());
        } catch (const Error& e) {
            std::fprintf(stderr, "capdb: error: %s\n", e.what());
            note(e.code());
        }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(
        stderr, "capdb: %llu packets (IPv4 %llu, IPv6 %llu, other %llu, malformed %llu) in %.3f s, %.0f packets/s\n",
        static_cast<unsigned long long>(total.packets), static_cast<unsigned long long>(total.ipv4),
        static_cast<unsigned long long>(total.ipv6), static_cast<unsigned long long>(total.other + total.unsupported),
        static_cast<unsigned long long>(total.malformed), secs,
        secs > 0 ? static_cast<double>(total.packets) / secs : 0.0);
    return static_cast<int>(worst);
}

int run_interfaces() {
    const std::vector<InterfaceInfo> list = list_interfaces();
    if (list.empty()) throw DeviceError("no interfaces available for capture (capturing may need root)");
    int n = 0;
    for (const InterfaceInfo& i : list) std::printf("%d.%s\n", ++n, describe_interface(i).c_str());
    return 0;
}

}  // namespace capdb::cli
