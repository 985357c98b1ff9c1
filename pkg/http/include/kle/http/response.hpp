#pragma once
// What a route handler sees and returns. Handlers run on the server's io_context and must
// not block: they read state the controller already holds (metrics text, health, leader).
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/http/verb.hpp>
#include <nlohmann/json_fwd.hpp>

namespace kle::http {

struct Request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string path;   // target without the query
  std::string query;  // after '?', empty when none
};

struct Response {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields, e.g. Allow
};

using Handler = std::function<Response(const Request&)>;

Response text_response(unsigned status, std::string body);
// Serializes `body` (invalid UTF-8 is replaced, never thrown) as application/json.
Response json_response(unsigned status, const nlohmann::json& body);

}  // namespace kle::http
