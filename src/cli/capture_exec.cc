// The commands that read captures, handed over to the capture executable.
//
// This capdb is linked statically (a query then starts in about a
// millisecond less: no dynamic loader, no shared libraries to map), and a
// static program cannot load libpcap. So 'capdb ingest' and 'capdb
// interfaces' replace this process with capdb-capture, the same command
// line built as a dynamic program, with the same arguments: same pid, same
// standard streams, same exit status.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>

#include "capdb/error.h"
#include "cli/cli.h"

#ifndef CAPDB_CAPTURE_EXE
#error "CAPDB_CAPTURE_EXE (the installed path of capdb-capture) must be defined"
#endif

namespace capdb::cli {
namespace {

constexpr const char* kCaptureName = "capdb-capture";

// The directory of this executable, with a trailing slash ("" if unknown).
std::string own_directory() {
    char path[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return {};
    const std::string exe(path, static_cast<std::size_t>(n));
    const auto slash = exe.rfind('/');
    return slash == std::string::npos ? std::string() : exe.substr(0, slash + 1);
}

[[noreturn]] void hand_over(char** argv) {
    // Next to this executable first (a build tree, or both copied together),
    // then where 'meson install' puts it.
    const std::string beside = own_directory() + kCaptureName;
    int err = ENOENT;
    for (const std::string& exe : {beside, std::string(CAPDB_CAPTURE_EXE)}) {
        if (exe == kCaptureName) continue;  // own_directory() failed: no PATH search
        ::execv(exe.c_str(), argv);
        if (errno != ENOENT) err = errno;  // it is there but cannot run: say why
    }
    throw Error(Exit::internal, std::string("cannot run ") + kCaptureName +
                                    ", which reads captures for capdb (looked in " +
                                    (beside == kCaptureName ? "" : printable(beside) + " and ") +
                                    printable(CAPDB_CAPTURE_EXE) + "): " + std::strerror(err));
}

}  // namespace

int run_ingest(const IngestArgs& /*args*/, char** argv) { hand_over(argv); }
int run_interfaces(char** argv) { hand_over(argv); }

}  // namespace capdb::cli

// SQLite's loader of extensions (which capdb never enables) calls dlopen,
// and glibc's static dlopen makes the linker warn that it needs the same
// glibc's shared libraries at run time. meson.build links this program with
// --wrap=dlopen, which sends those calls here: in this static program
// nothing is loaded dynamically.
extern "C" void* __wrap_dlopen(const char* /*file*/, int /*mode*/) noexcept { return nullptr; }
