#pragma once
// Parses --http-address: "0.0.0.0:8080", "127.0.0.1:0" (0 = ephemeral), "[::1]:8080",
// ":8080" (all IPv4 interfaces, like Go's net.Listen). Hosts must be IP literals: resolving
// names at start-up would make the listen address depend on DNS.
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include <kle/api/result.hpp>

namespace kle::http {

// ErrorKind::config with a message naming the input and what is wrong with it.
api::Result<boost::asio::ip::tcp::endpoint> parse_listen_address(std::string_view text);

}  // namespace kle::http
