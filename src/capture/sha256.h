// Incremental SHA-256 through OpenSSL's SHA256_* functions, which use the
// CPU's SHA extensions where present. (The EVP interface computes the same
// with the same code, but linked statically it drags OpenSSL's provider
// machinery into capdb: 4 MB and 17,000 start-up relocations.)
#pragma once

#include <cstddef>
#include <memory>
#include <string>

struct SHA256state_st;

namespace capdb {

class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const void* data, std::size_t n);
    // Lowercase hex digest; later calls return the same, and update() does
    // nothing once it has been taken.
    [[nodiscard]] std::string hex();

private:
    std::unique_ptr<SHA256state_st> ctx_;
    bool finished_ = false;
    std::string digest_;
};

}  // namespace capdb
