// Streaming MD5 (S3 ETags of parts and single-part objects) over OpenSSL's EVP API.
// Thread-safety: one Md5 per thread.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void Update(std::string_view data);
  // Lowercase hex digest (32 characters). Call once.
  std::string HexDigest();
  // The raw 16-byte digest. Call once (instead of HexDigest).
  std::string Digest();

 private:
  void* ctx_;  // EVP_MD_CTX
};

std::string ToHex(std::string_view bytes);

}  // namespace sluice
