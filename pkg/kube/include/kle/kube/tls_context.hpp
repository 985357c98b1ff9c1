#pragma once
// The TLS side of Transport: builds the OpenSSL client context from TlsConfig (CA bundle,
// client certificate, verification mode) and prepares each connection (SNI, hostname or IP
// check). Kept apart from transport.cpp so each file has one job.
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include <kle/api/result.hpp>
#include <kle/kube/config.hpp>

#include <openssl/types.h>

namespace kle::kube {

class TlsContextCache {
 public:
  // `host` is the name checked against the certificate unless tls.server_name is set.
  TlsContextCache(TlsConfig tls, std::string host);

  // The context for a NEW connection. When tls.ca_file is set it is re-read here, and the
  // context rebuilt if its content changed (the CA can rotate); a failed re-read keeps the
  // last good bundle. Existing connections keep the context they were made with.
  api::Result<std::shared_ptr<boost::asio::ssl::context>> context();

  // Per connection, before the handshake: SNI (host names only; RFC 6066 forbids IPs there)
  // and the peer name check (SSL_set1_host, or the IP SAN check for an IP literal).
  [[nodiscard]] api::Result<void> prepare(SSL* ssl) const;

 private:
  TlsConfig tls_;
  std::string name_;  // what the certificate must be valid for
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  std::string ctx_ca_;  // the CA bundle ctx_ was built with
};

}  // namespace kle::kube
