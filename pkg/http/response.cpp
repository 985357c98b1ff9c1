#include <kle/http/response.hpp>

#include <nlohmann/json.hpp>

namespace kle::http {

Response text_response(unsigned status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response json_response(unsigned status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  // replace: a pod name or holder identity with bad bytes must not take the endpoint down.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body += '\n';
  return r;
}

}  // namespace kle::http
