// --http-address parsing: the forms the chart and users write, and clear errors otherwise.
#include <catch2/catch.hpp>

#include <string>

#include <kle/http/address.hpp>

using kle::http::parse_listen_address;

TEST_CASE("listen addresses in every accepted form") {
  auto any = parse_listen_address("0.0.0.0:8080");
  REQUIRE(any.ok());
  CHECK(any->address().to_string() == "0.0.0.0");
  CHECK(any->port() == 8080);

  auto ephemeral = parse_listen_address("127.0.0.1:0");
  REQUIRE(ephemeral.ok());
  CHECK(ephemeral->address().to_string() == "127.0.0.1");
  CHECK(ephemeral->port() == 0);

  auto v6 = parse_listen_address("[::1]:8080");
  REQUIRE(v6.ok());
  CHECK(v6->address().is_v6());
  CHECK(v6->address().to_string() == "::1");
  CHECK(v6->port() == 8080);

  auto v6_any = parse_listen_address("[::]:9090");
  REQUIRE(v6_any.ok());
  CHECK(v6_any->address().is_v6());
  CHECK(v6_any->port() == 9090);

  auto port_only = parse_listen_address(":8080");
  REQUIRE(port_only.ok());
  CHECK(port_only->address().to_string() == "0.0.0.0");
  CHECK(port_only->port() == 8080);

  auto top = parse_listen_address("127.0.0.1:65535");
  REQUIRE(top.ok());
  CHECK(top->port() == 65535);
}

TEST_CASE("bad listen addresses are config errors naming the input") {
  const char* bad[] = {
      "",                 // nothing
      "8080",             // no colon
      "127.0.0.1",        // no port
      "127.0.0.1:",       // empty port
      "127.0.0.1:http",   // named port
      "127.0.0.1:65536",  // out of range
      "127.0.0.1:-1",     // negative
      "127.0.0.1:80x",    // trailing junk
      "localhost:8080",   // names are not resolved
      "300.1.1.1:80",     // not an IPv4 address
      "::1:8080",         // IPv6 without brackets
      "[::1:8080",        // unclosed bracket
      "[::1]8080",        // no colon after bracket
      "[zz]:8080",        // not an IPv6 address
  };
  for (const char* text : bad) {
    INFO(text);
    auto r = parse_listen_address(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(kle::api::ErrorKind::config));
    CHECK(r.error().message.find(std::string("\"") + text + "\"") != std::string::npos);
  }
  CHECK(parse_listen_address("127.0.0.1:65536").error().message.find("0 to 65535") != std::string::npos);
  CHECK(parse_listen_address("localhost:80").error().message.find("IP address") != std::string::npos);
}
