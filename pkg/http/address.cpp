#include <kle/http/address.hpp>

#include <charconv>
#include <string>

namespace kle::http {
namespace {

api::Error bad_address(std::string_view text, const std::string& why) {
  return api::local_error(api::ErrorKind::config, "invalid HTTP listen address \"" + std::string(text) + "\": " + why +
                                                      " (want HOST:PORT, e.g. 0.0.0.0:8080, [::1]:8080 or :8080)");
}

}  // namespace

api::Result<boost::asio::ip::tcp::endpoint> parse_listen_address(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return bad_address(text, "missing ']'");
    if (close + 1 >= text.size() || text[close + 1] != ':') return bad_address(text, "missing :PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad_address(text, "missing :PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // An unbracketed IPv6 host is ambiguous ("::1:80"): demand brackets.
    if (host.find(':') != std::string_view::npos) return bad_address(text, "IPv6 hosts need [brackets]");
  }

  unsigned value = 0;
  const auto* end = port.data() + port.size();
  const auto [ptr, ec] = std::from_chars(port.data(), end, value);
  if (port.empty() || ec != std::errc{} || ptr != end || value > 65535) {
    return bad_address(text, "port must be a number from 0 to 65535");
  }

  boost::asio::ip::address ip = boost::asio::ip::address_v4::any();
  if (!host.empty()) {
    boost::system::error_code parse_ec;
    ip = boost::asio::ip::make_address(std::string(host), parse_ec);
    if (parse_ec) return bad_address(text, "host must be an IP address");
  }
  return boost::asio::ip::tcp::endpoint(ip, static_cast<unsigned short>(value));
}

}  // namespace kle::http
