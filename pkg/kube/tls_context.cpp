#include <kle/kube/tls_context.hpp>

#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace kle::kube {
namespace {

namespace ssl = boost::asio::ssl;
using api::Error;
using api::ErrorKind;
using api::Result;

Error config_error(std::string message) {
  return api::local_error(ErrorKind::config, std::move(message));
}

bool is_ip_literal(const std::string& s) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(s, ec);
  return !ec;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(ss).str();
}

// Messages name the failing step and OpenSSL's reason, never key or certificate content.
Result<std::shared_ptr<ssl::context>> build(const TlsConfig& tls, const std::string& ca) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  // Always verify: the bearer token must never reach a server we have not authenticated.
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (!ec) {
    if (ca.empty())
      ctx->set_default_verify_paths(ec);
    else
      ctx->add_certificate_authority(boost::asio::buffer(ca), ec);
  }
  if (ec) return config_error("loading the CA bundle: " + ec.message());
  if (!tls.client_cert_pem.empty() || !tls.client_key_pem.empty()) {
    ctx->use_certificate_chain(boost::asio::buffer(tls.client_cert_pem), ec);
    if (ec) return config_error("loading the client certificate: " + ec.message());
    ctx->use_private_key(boost::asio::buffer(tls.client_key_pem), ssl::context::pem, ec);
    if (ec) return config_error("loading the client key: " + ec.message());
  }
  return ctx;
}

}  // namespace

TlsContextCache::TlsContextCache(TlsConfig tls, std::string host)
    : tls_(std::move(tls)), name_(tls_.server_name.empty() ? std::move(host) : tls_.server_name) {}

Result<std::shared_ptr<ssl::context>> TlsContextCache::context() {
  std::string ca = tls_.ca_pem;
  if (!tls_.ca_file.empty()) {
    if (auto text = read_file(tls_.ca_file); text && !text->empty())
      ca = std::move(*text);
    else if (ctx_)
      ca = ctx_ca_;  // mid-rotation or briefly unreadable: keep the last good bundle
    else if (ca.empty())
      return config_error("cannot read the CA file " + tls_.ca_file);
  }
  if (ctx_ && ca == ctx_ca_) return ctx_;
  auto built = build(tls_, ca);
  if (!built) return built;
  ctx_ = built.value();
  ctx_ca_ = std::move(ca);
  return ctx_;
}

Result<void> TlsContextCache::prepare(SSL* ssl) const {
  const bool ip = is_ip_literal(name_);
  // SSL_set_tlsext_host_name spelled out: the macro's C cast trips -Wold-style-cast.
  if (!ip && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      const_cast<char*>(name_.c_str())) != 1)
    return config_error("cannot set SNI to " + name_);
  const int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name_.c_str())
                     : SSL_set1_host(ssl, name_.c_str());
  if (set != 1) return config_error("cannot verify the server as " + name_);
  return {};
}

}  // namespace kle::kube
