#include <string>
#include <system_error>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <kle/api/error.hpp>

using kle::api::Error;
using kle::api::ErrorKind;
using kle::api::error_from_response;
using kle::api::kind_for_status;

TEST_CASE("each HTTP status maps to its error kind") {
  CHECK(kind_for_status(400) == ErrorKind::bad_request);
  CHECK(kind_for_status(401) == ErrorKind::unauthorized);
  CHECK(kind_for_status(403) == ErrorKind::forbidden);
  CHECK(kind_for_status(404) == ErrorKind::not_found);
  CHECK(kind_for_status(409) == ErrorKind::conflict);
  CHECK(kind_for_status(410) == ErrorKind::gone);
  CHECK(kind_for_status(422) == ErrorKind::invalid);
  CHECK(kind_for_status(429) == ErrorKind::too_many_requests);
  CHECK(kind_for_status(500) == ErrorKind::server_error);
  CHECK(kind_for_status(503) == ErrorKind::server_error);
  CHECK(kind_for_status(504) == ErrorKind::server_error);
  CHECK(kind_for_status(599) == ErrorKind::server_error);
  CHECK(kind_for_status(405) == ErrorKind::http_other);
  CHECK(kind_for_status(418) == ErrorKind::http_other);
  CHECK(kind_for_status(302) == ErrorKind::http_other);
  CHECK(kind_for_status(600) == ErrorKind::http_other);
  CHECK(kind_for_status(0) == ErrorKind::http_other);
}

TEST_CASE("ErrorKind is an error_code in the kube-api category") {
  const std::error_code ec = ErrorKind::conflict;  // implicit via is_error_code_enum
  CHECK(ec.category().name() == std::string("kube-api"));
  CHECK(ec.value() == static_cast<int>(ErrorKind::conflict));
  CHECK(ec.message() == "conflict");
  CHECK(ec == make_error_code(ErrorKind::conflict));
  CHECK(ec != make_error_code(ErrorKind::gone));
  CHECK(std::string(to_string(ErrorKind::too_many_requests)) == "too_many_requests");
  CHECK(std::string(to_string(ErrorKind::config)) == "config");
  CHECK(std::string(to_string(static_cast<ErrorKind>(999))) == "unknown");
}

TEST_CASE("a 403 Status body keeps the apiserver's RBAC message verbatim") {
  const std::string msg =
      R"(leases.coordination.k8s.io "x" is forbidden: User "system:serviceaccount:ns:sa" cannot update resource "leases" in API group "coordination.k8s.io" in the namespace "ns")";
  const nlohmann::json status = {{"kind", "Status"},       {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
                                 {"status", "Failure"},    {"message", msg},     {"reason", "Forbidden"},
                                 {"details", {{"name", "x"}, {"group", "coordination.k8s.io"}, {"kind", "leases"}}},
                                 {"code", 403}};
  const Error e = error_from_response(403, status.dump(), "");
  CHECK(e.kind == ErrorKind::forbidden);
  CHECK(e.is(ErrorKind::forbidden));
  CHECK(e.http_status == 403);
  CHECK(e.reason == "Forbidden");
  CHECK(e.message == msg);
  CHECK(e.retry_after.count() == 0);
  CHECK(e.describe() == "forbidden (403 Forbidden): " + msg);
}

TEST_CASE("a 409 Conflict Status decodes reason and message") {
  const std::string body =
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on leases.coordination.k8s.io \"demo\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"demo","group":"coordination.k8s.io","kind":"leases"},"code":409})";
  const Error e = error_from_response(409, body, "");
  CHECK(e.kind == ErrorKind::conflict);
  CHECK(e.reason == "Conflict");
  CHECK(e.message.rfind("Operation cannot be fulfilled on leases.coordination.k8s.io \"demo\"", 0) == 0);
}

TEST_CASE("retry-after comes from Status details or the Retry-After header") {
  const std::string body =
      R"({"kind":"Status","status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":7},"code":429})";
  SECTION("details only") {
    const Error e = error_from_response(429, body, "");
    CHECK(e.kind == ErrorKind::too_many_requests);
    CHECK(e.retry_after == std::chrono::seconds(7));
    CHECK(e.describe() == "too_many_requests (429 TooManyRequests): Too many requests, please try again later. (retry after 7s)");
  }
  SECTION("the header wins over details") {
    CHECK(error_from_response(429, body, "3").retry_after == std::chrono::seconds(3));
    CHECK(error_from_response(429, body, " 12 ").retry_after == std::chrono::seconds(12));
  }
  SECTION("header alone, on a 503 without a Status body") {
    const Error e = error_from_response(503, "service unavailable", "1");
    CHECK(e.kind == ErrorKind::server_error);
    CHECK(e.retry_after == std::chrono::seconds(1));
  }
  SECTION("unusable header values are ignored, not guessed") {
    CHECK(error_from_response(429, body, "Wed, 21 Oct 2015 07:28:00 GMT").retry_after == std::chrono::seconds(7));
    CHECK(error_from_response(503, "", "-5").retry_after == std::chrono::seconds(0));
    CHECK(error_from_response(503, "", "1.5").retry_after == std::chrono::seconds(0));
  }
  SECTION("a wrongly typed retryAfterSeconds is ignored, the rest kept") {
    const Error e = error_from_response(
        429, R"({"kind":"Status","reason":"TooManyRequests","message":"m","details":{"retryAfterSeconds":"7"}})", "");
    CHECK(e.retry_after == std::chrono::seconds(0));
    CHECK(e.message == "m");
  }
}

TEST_CASE("a non-Status body is kept as raw text on one bounded line") {
  SECTION("plain text") {
    const Error e = error_from_response(502, "  Bad Gateway\r\n\r\n", "");
    CHECK(e.kind == ErrorKind::server_error);
    CHECK(e.reason.empty());
    CHECK(e.message == "Bad Gateway");
    CHECK(e.describe() == "server_error (502): Bad Gateway");
  }
  SECTION("JSON that is not a Status") {
    const Error e = error_from_response(404, R"({"kind":"Lease","message":"not me"})", "");
    CHECK(e.kind == ErrorKind::not_found);
    CHECK(e.message == R"({"kind":"Lease","message":"not me"})");
  }
  SECTION("a long HTML page is truncated with an ellipsis") {
    const std::string page = "<html>\n<body>" + std::string(5000, 'x') + "</body></html>";
    const Error e = error_from_response(500, page, "");
    CHECK(e.message.size() <= 512 + 3);
    CHECK(e.message.rfind("<html> <body>xxx", 0) == 0);
    CHECK(e.message.substr(e.message.size() - 3) == "...");
    CHECK(e.message.find('\n') == std::string::npos);
  }
  SECTION("truncation does not split a UTF-8 sequence") {
    std::string body(511, 'a');
    for (int i = 0; i < 10; ++i) body += "\xc3\xa9";  // é
    const Error e = error_from_response(500, body, "");
    const std::string kept = e.message.substr(0, e.message.size() - 3);
    CHECK(kept == std::string(511, 'a'));  // the é straddling byte 512 is dropped whole
  }
  SECTION("an empty body") {
    const Error e = error_from_response(404, "", "");
    CHECK(e.message.empty());
    CHECK(e.describe() == "not_found (404)");
  }
}

TEST_CASE("describe() is one line for errors built without a response") {
  Error e;
  e.kind = ErrorKind::timeout;
  e.message = "GET /apis/coordination.k8s.io/v1/namespaces/ns/leases/x: no response within 5000ms";
  CHECK(e.describe() == "timeout: GET /apis/coordination.k8s.io/v1/namespaces/ns/leases/x: no response within 5000ms");
  e.message = "line one\nline two";
  CHECK(e.describe() == "timeout: line one line two");
  const Error conf{ErrorKind::config, 0, {}, "kubeconfig /x: bad"};
  CHECK(conf.describe() == "config: kubeconfig /x: bad");
}

TEST_CASE("describe() stays one line when the server's reason or message holds control characters") {
  // Found by fuzz/fuzz_error.cpp: a Status.reason with an embedded newline split the log line.
  const Error e = error_from_response(
      403, R"({"kind":"Status","reason":"Forbid\nden","message":"a\r\nb\tc\u0000d","code":403})", "");
  CHECK(e.reason == "Forbid\nden");  // the value itself is kept verbatim
  CHECK(e.describe() == "forbidden (403 Forbid den): a  b c d");
}

// Issue 15, item 1: retryAfterSeconds 2^63-1 reached the elector as is, and converting it to
// the clock's nanoseconds overflowed (a UBSan abort). Every server-supplied wait is clamped.
TEST_CASE("server-supplied retry-after values are clamped to kMaxRetryAfter") {
  using kle::api::kMaxRetryAfter;
  const auto status = [](const std::string& secs) {
    return R"({"kind":"Status","reason":"TooManyRequests","message":"slow down","details":{"retryAfterSeconds":)" + secs +
           "}}";
  };
  SECTION("retryAfterSeconds") {
    const Error e = error_from_response(429, status("9223372036854775807"), "");
    CHECK(e.retry_after == kMaxRetryAfter);
    CHECK(e.describe() == "too_many_requests (429 TooManyRequests): slow down (retry after 600s)");
    CHECK(error_from_response(429, status("601"), "").retry_after == kMaxRetryAfter);
    CHECK(error_from_response(429, status("600"), "").retry_after == std::chrono::seconds(600));
    CHECK(error_from_response(429, status("-9223372036854775807"), "").retry_after == std::chrono::seconds(0));
  }
  SECTION("the Retry-After header") {
    CHECK(error_from_response(429, "", "999999999").retry_after == kMaxRetryAfter);
    CHECK(error_from_response(429, "", "99999999999999999999").retry_after == kMaxRetryAfter);
    CHECK(error_from_response(429, "", "601").retry_after == kMaxRetryAfter);
    CHECK(error_from_response(429, "", "0000000000000000000000007").retry_after == std::chrono::seconds(7));
    CHECK(error_from_response(429, "", "0").retry_after == std::chrono::seconds(0));
  }
  SECTION("a huge header still wins over details, clamped") {
    CHECK(error_from_response(429, status("7"), "999999999").retry_after == kMaxRetryAfter);
  }
}

// Issue 15, item 10: a 1 MB Status message was kept whole and logged on every retry.
TEST_CASE("a server's Status message and reason are capped, with a marker") {
  using kle::api::kMaxMessage;
  using kle::api::kMaxReason;
  const std::string huge(std::size_t{1} << 20, 'm');
  const nlohmann::json status = {{"kind", "Status"}, {"reason", std::string(1000, 'R')}, {"message", huge}, {"code", 500}};
  const Error e = error_from_response(500, status.dump(), "");
  CHECK(e.message.size() <= kMaxMessage);
  CHECK(e.message.size() > kMaxMessage - 64);  // most of the budget is kept
  CHECK(e.message.rfind("mmmm", 0) == 0);
  const std::string marker = "...[truncated, 1048576 bytes]";
  REQUIRE(e.message.size() > marker.size());
  CHECK(e.message.substr(e.message.size() - marker.size()) == marker);
  CHECK(e.reason.size() <= kMaxReason);
  CHECK(e.reason.substr(e.reason.size() - 26) == "...[truncated, 1000 bytes]");
  const std::string line = e.describe();
  CHECK(line.size() <= kMaxMessage + kMaxReason + 64);
  CHECK(line.find(marker) != std::string::npos);

  SECTION("a message at the cap is kept whole") {
    const nlohmann::json fits = {{"kind", "Status"}, {"message", std::string(kMaxMessage, 'x')}};
    CHECK(error_from_response(500, fits.dump(), "").message == std::string(kMaxMessage, 'x'));
  }
  SECTION("the cut does not split a UTF-8 sequence") {
    std::string text;
    for (int i = 0; i < 2000; ++i) text += "\xe2\x82\xac";  // €, three bytes
    const nlohmann::json euros = {{"kind", "Status"}, {"message", text}};
    const Error u = error_from_response(500, euros.dump(), "");
    const std::string kept = u.message.substr(0, u.message.find("...[truncated, 6000 bytes]"));
    REQUIRE(kept.size() < u.message.size());
    CHECK(kept.size() % 3 == 0);
    CHECK(kept.substr(kept.size() - 3) == "\xe2\x82\xac");
  }
  SECTION("describe() bounds a message however it was filled") {
    Error direct;
    direct.kind = ErrorKind::transport;
    direct.message = huge;
    const std::string d = direct.describe();
    CHECK(d.size() <= kMaxMessage + 64);
    CHECK(d.substr(d.size() - marker.size()) == marker);
  }
}
