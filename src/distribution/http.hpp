// One HTTP exchange on a libcurl easy handle, and the small URL helpers around it. Internal to
// distribution/: the Client adds registries, auth, redirects and retries on top.
//
// Never sets CURLOPT_ACCEPT_ENCODING (a blob's bytes must arrive exactly as stored) and never
// lets curl follow redirects itself (the Client decides which headers go to which host).
// Stalls are detected here: less than 1 KiB received or sent in a window of stall_timeout_ms
// once connected (a trickle of a byte every few seconds counts as a stall).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace berth::distribution::http {

// curl_global_init, once per process (thread-safe).
void global_init();

struct Response {
  long status = 0;
  std::string reason;  // from the status line ("Not Found"), or the standard text (HTTP/2)
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, in order
  // A 2xx body when the request had no sink; for other statuses the first 64 KiB (the
  // registry's error JSON).
  std::string body;
  int64_t content_length = -1;
  int64_t received = 0;  // body bytes of this response
  std::string url;       // the URL that answered

  // The first header of that (lowercase) name, "" if none.
  std::string header(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
};

struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // A body sent as is (so the request can be replayed), or a streamed one from `reader`
  // (upload_size bytes; reader returns 0 at the end and may throw).
  std::optional<std::string_view> body;
  std::function<size_t(char*, size_t)> reader;
  int64_t upload_size = 0;
  // A 2xx body goes to `sink` when set (it may throw: the transfer stops and the exception
  // comes out of perform), else into Response::body, refused beyond max_body bytes.
  std::function<void(const char*, size_t)> sink;
  size_t max_body = 1 << 20;
  // Called when the headers of a final 2xx response are complete, before its body.
  std::function<void(const Response&)> on_headers;

  bool verify_tls = true;
  std::string ca_file;  // empty: the system's CA bundle
  long connect_timeout_ms = 30'000;
  long stall_timeout_ms = 60'000;
  std::string user_agent;
};

// A failure below HTTP: connection, TLS, stall, truncation, oversized body.
class TransportError : public Error {
 public:
  enum class Kind { kConnect, kTls, kStalled, kTruncated, kTooLarge, kOther };
  TransportError(Kind kind, const std::string& msg, bool retryable, bool answered)
      : Error(msg), kind_(kind), retryable_(retryable), answered_(answered) {}
  Kind kind() const { return kind_; }
  // Worth trying again (the request may succeed on another attempt).
  bool retryable() const { return retryable_; }
  // A status line had arrived before the failure.
  bool answered() const { return answered_; }

 private:
  Kind kind_;
  bool retryable_;
  bool answered_;
};

// Idle easy handles: a transfer takes one (its connection cache comes along, so sequential
// requests reuse connections) and gives it back. Thread-safe.
class HandlePool {
 public:
  HandlePool() = default;
  ~HandlePool();
  HandlePool(const HandlePool&) = delete;
  HandlePool& operator=(const HandlePool&) = delete;

  class Lease {
   public:
    Lease(HandlePool* pool, void* h) : pool_(pool), h_(h) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), h_(std::exchange(o.h_, nullptr)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    void* get() const { return h_; }

   private:
    HandlePool* pool_;
    void* h_;
  };
  Lease acquire();

 private:
  void release(void* h);
  std::mutex mu_;
  std::vector<void*> idle_;
};

// Performs one exchange on `handle` (a CURL*). Any HTTP status is a Response; everything else
// throws TransportError (or what the sink, reader or on_headers threw).
Response perform(void* handle, const Request& req);

// A plain GET of `url` (http or https; up to 10 redirects followed), the body to `sink`:
// what ADD of a URL downloads. A status other than 2xx is an error naming it.
struct Fetched {
  int64_t size = 0;
  int64_t last_modified = 0;  // unix seconds from Last-Modified, 0 when none
  std::string url;            // the URL that answered
};
Fetched fetch(const std::string& url, const std::function<void(const char*, size_t)>& sink);

// Standard reason phrase of a status ("Not Found"), "" when unknown.
std::string_view status_text(long status);

// `location` resolved against `base` (absolute or relative Location headers).
std::string resolve(const std::string& base, const std::string& location);
// "scheme://host:port" of a URL (default ports made explicit, lowercase), "" if unparsable.
std::string origin(const std::string& url);
// The path of a URL without query ("/v2/a/b/manifests/t").
std::string path_of(const std::string& url);
// "host[:port]" of a URL.
std::string host_of(const std::string& url);
// Percent-encoding for a query value.
std::string escape(std::string_view s);
// url + "?k=v" or "&k=v" (v escaped).
std::string add_query(const std::string& url, std::string_view key, std::string_view value);

}  // namespace berth::distribution::http
