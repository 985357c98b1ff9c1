// Response helpers: JSON is well-formed even from bad bytes, text is plain.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <kle/http/response.hpp>

TEST_CASE("json_response serializes with the JSON content type") {
  auto r = kle::http::json_response(200, {{"holder", "pod-a"}, {"transitions", 3}});
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  auto parsed = nlohmann::json::parse(r.body);
  CHECK(parsed["holder"] == "pod-a");
  CHECK(parsed["transitions"] == 3);
}

TEST_CASE("json_response replaces invalid UTF-8 instead of throwing") {
  auto r = kle::http::json_response(503, {{"holder", std::string("bad\xff")}});
  CHECK(r.status == 503);
  auto parsed = nlohmann::json::parse(r.body);
  CHECK(parsed["holder"] == "bad\xEF\xBF\xBD");  // U+FFFD
}

TEST_CASE("text_response is plain text") {
  auto r = kle::http::text_response(404, "nope\n");
  CHECK(r.status == 404);
  CHECK(r.content_type == "text/plain; charset=utf-8");
  CHECK(r.body == "nope\n");
}
