#include "distribution/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <exception>
#include <memory>

#include "common/strings.hpp"

namespace berth::distribution::http {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxErrorBody = 64 << 10;
constexpr size_t kMaxIdleHandles = 16;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using Url = std::unique_ptr<CURLU, UrlDeleter>;

Url parse_url(const std::string& url) {
  Url u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return nullptr;
  return u;
}

std::string url_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* p = nullptr;
  if (curl_url_get(u, part, &p, flags) != CURLUE_OK || !p) return "";
  std::string s(p);
  curl_free(p);
  return s;
}

// The least a transfer must move per stall window (Request::stall_timeout_ms).
constexpr int64_t kMinProgress = 1024;

// State shared with the callbacks of one transfer.
struct Transfer {
  const Request* req;
  Response* resp;
  CURL* h;
  bool final_2xx = false;  // the current header block is a final 2xx response
  bool headers_done = false;
  bool too_large = false;
  bool stalled = false;
  bool connected = false;
  bool reader_short = false;
  int64_t uploaded = 0;
  int64_t header_bytes = 0;
  int64_t last_activity = -1;
  Clock::time_point last_change = Clock::now();
  std::exception_ptr error;  // thrown by sink, reader or on_headers
};

size_t on_header(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t len = size * n;
  t->header_bytes += static_cast<int64_t>(len);
  std::string_view line(data, len);
  Response& r = *t->resp;
  if (line.starts_with("HTTP/")) {  // a new header block (1xx, then the final one)
    r.status = 0;
    r.reason.clear();
    r.headers.clear();
    r.content_length = -1;
    t->headers_done = false;
    t->final_2xx = false;
    std::string_view rest =
        line.substr(line.find(' ') == std::string_view::npos ? line.size() : line.find(' ') + 1);
    rest = trim(rest);
    auto sp = rest.find(' ');
    std::string code(rest.substr(0, sp));
    r.status = std::strtol(code.c_str(), nullptr, 10);
    if (sp != std::string_view::npos) r.reason = std::string(trim(rest.substr(sp + 1)));
    if (r.reason.empty()) r.reason = std::string(status_text(r.status));
    return len;
  }
  if (trim(line).empty()) {
    t->headers_done = true;
    t->final_2xx = r.status >= 200 && r.status < 300;
    if (t->final_2xx) {
      if (!t->req->sink && t->req->method != "HEAD" &&
          r.content_length > static_cast<int64_t>(t->req->max_body)) {
        t->too_large = true;
        return 0;
      }
      if (t->req->on_headers) {
        try {
          t->req->on_headers(r);
        } catch (...) {
          t->error = std::current_exception();
          return 0;
        }
      }
    }
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name = lower(trim(line.substr(0, colon)));
  std::string value(trim(line.substr(colon + 1)));
  if (name == "content-length") r.content_length = std::strtoll(value.c_str(), nullptr, 10);
  r.headers.emplace_back(std::move(name), std::move(value));
  return len;
}

size_t on_write(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t len = size * n;
  Response& r = *t->resp;
  r.received += static_cast<int64_t>(len);
  if (!t->final_2xx) {  // an error or redirect body: keep its start for the message
    if (r.body.size() < kMaxErrorBody)
      r.body.append(data, std::min(len, kMaxErrorBody - r.body.size()));
    return len;
  }
  if (t->req->sink) {
    try {
      t->req->sink(data, len);
    } catch (...) {
      t->error = std::current_exception();
      return 0;
    }
    return len;
  }
  if (r.body.size() + len > t->req->max_body) {
    t->too_large = true;
    return 0;
  }
  r.body.append(data, len);
  return len;
}

size_t on_read(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t want = size * n;
  int64_t left = t->req->upload_size - t->uploaded;
  if (left <= 0) return 0;
  want = std::min<size_t>(want, static_cast<size_t>(left));
  size_t got;
  try {
    got = t->req->reader(buf, want);
  } catch (...) {
    t->error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
  if (got == 0) {
    t->reader_short = true;
    return CURL_READFUNC_ABORT;
  }
  got = std::min(got, want);
  t->uploaded += static_cast<int64_t>(got);
  return got;
}

int on_prereq(void* p, char*, char*, int, int) {
  auto* t = static_cast<Transfer*>(p);
  t->connected = true;
  t->last_change = Clock::now();
  return CURL_PREREQFUNC_OK;
}

int on_progress(void* p, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(p);
  if (!t->connected) return 0;  // the connect timeout covers this part
  // A window of stall_timeout_ms must move at least kMinProgress bytes: a peer trickling a
  // byte every few seconds is as stalled as a silent one.
  auto now = Clock::now();
  int64_t activity = t->header_bytes + dlnow + ulnow;
  if (t->last_activity < 0) {
    t->last_activity = activity;
    t->last_change = now;
    return 0;
  }
  auto window = std::chrono::duration_cast<std::chrono::milliseconds>(now - t->last_change).count();
  if (t->req->stall_timeout_ms <= 0 || window < t->req->stall_timeout_ms) return 0;
  if (activity - t->last_activity < kMinProgress) {
    t->stalled = true;
    return 1;
  }
  t->last_activity = activity;
  t->last_change = now;
  return 0;
}

}  // namespace

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw Error("libcurl: global init failed");
  });
}

std::string Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return "";
}

std::vector<std::string> Response::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (k == name) out.push_back(v);
  return out;
}

HandlePool::~HandlePool() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

HandlePool::Lease HandlePool::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return Lease(this, h);
    }
  }
  global_init();
  CURL* h = curl_easy_init();
  if (!h) throw Error("libcurl: cannot create a handle");
  return Lease(this, h);
}

void HandlePool::release(void* h) {
  std::unique_lock lock(mu_);
  if (idle_.size() < kMaxIdleHandles) {
    idle_.push_back(h);
    return;
  }
  lock.unlock();
  curl_easy_cleanup(static_cast<CURL*>(h));
}

HandlePool::Lease::~Lease() {
  if (h_) pool_->release(h_);
}

Response perform(void* handle, const Request& req) {
  CURL* h = static_cast<CURL*>(handle);
  curl_easy_reset(h);
  Response resp;
  Transfer t{&req, &resp, h};
  char errbuf[CURL_ERROR_SIZE] = {};

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&](const std::string& line) {
    curl_slist* l = curl_slist_append(headers.get(), line.c_str());
    if (!l) throw Error("libcurl: out of memory");
    (void)headers.release();
    headers.reset(l);
  };
  bool has_content_type = false;
  for (const auto& line : req.headers) {
    add_header(line);
    if (lower(line).starts_with("content-type:")) has_content_type = true;
  }

  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  if (!req.user_agent.empty()) curl_easy_setopt(h, CURLOPT_USERAGENT, req.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, req.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L << 10);
  curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 512L << 10);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, req.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, req.verify_tls ? 2L : 0L);
  if (!req.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, req.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(h, CURLOPT_PREREQDATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);

  const std::string& m = req.method;
  if (m == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (m == "GET" && !req.body && !req.reader) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (req.reader) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.upload_size));
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    if (m != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
    add_header("Expect:");
  } else if (m == "DELETE" && !req.body) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
  } else {  // POST, PUT, PATCH with a (possibly empty) body in memory
    std::string_view body = req.body.value_or(std::string_view());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data() ? body.data() : "");
    if (m != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
    if (!has_content_type) add_header("Content-Type:");
    add_header("Expect:");
  }
  if (headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = curl_easy_perform(h);
  resp.url = req.url;
  if (t.error) std::rethrow_exception(t.error);

  using Kind = TransportError::Kind;
  bool answered = resp.status != 0;
  auto error = [&](Kind kind, const std::string& msg, bool retryable) {
    return TransportError(kind, msg, retryable, answered);
  };
  auto detail = [&] {
    std::string s = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    while (!s.empty() && (s.back() == '\n' || s.back() == '.')) s.pop_back();
    return s;
  };
  auto truncated = [&] {
    return error(Kind::kTruncated,
                 "connection closed after " + std::to_string(resp.received) + " of " +
                     std::to_string(resp.content_length) + " bytes",
                 true);
  };
  if (t.too_large)
    throw error(Kind::kTooLarge,
                "response larger than " + std::to_string(req.max_body) + " bytes, refused", false);
  if (t.stalled)
    throw error(Kind::kStalled,
                "stalled: less than " + std::to_string(kMinProgress) + " bytes moved in " +
                    std::to_string(req.stall_timeout_ms) + " ms",
                true);
  if (t.reader_short)
    throw error(Kind::kOther,
                "upload source ended after " + std::to_string(t.uploaded) + " of " +
                    std::to_string(req.upload_size) + " bytes",
                false);
  switch (rc) {
    case CURLE_OK:
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
      // A name that does not resolve now will not a second later: one fast, clear failure
      // (retries took 3.6 s to say the same; Docker's answer is immediate too).
      throw error(Kind::kConnect, detail(), false);
    case CURLE_COULDNT_CONNECT:
      throw error(Kind::kConnect, detail(), true);
    case CURLE_OPERATION_TIMEDOUT:  // only the connect timeout is set
      throw error(Kind::kConnect, "connect timeout: " + detail(), true);
    case CURLE_SSL_CONNECT_ERROR:
      throw error(Kind::kTls, "TLS handshake: " + detail(), true);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      throw error(Kind::kTls, detail(), false);
    case CURLE_PARTIAL_FILE:
      if (resp.content_length >= 0) throw truncated();
      throw error(Kind::kTruncated, detail(), true);
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
      throw error(Kind::kOther, detail(), true);
    default:
      throw error(Kind::kOther, detail(), false);
  }
  bool has_body = m != "HEAD" && resp.status != 204 && resp.status != 304;
  if (has_body && resp.content_length >= 0 && resp.received < resp.content_length)
    throw truncated();
  return resp;
}

std::string_view status_text(long status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

Fetched fetch(const std::string& url_in, const std::function<void(const char*, size_t)>& sink) {
  global_init();
  HandlePool pool;
  std::string url = url_in;
  for (int hop = 0; hop <= 10; ++hop) {
    Request req;
    req.url = url;
    req.user_agent = "berth";
    Fetched out;
    req.sink = [&](const char* p, size_t n) {
      out.size += static_cast<int64_t>(n);
      sink(p, n);
    };
    auto lease = pool.acquire();
    Response r = perform(lease.get(), req);
    if (r.status >= 300 && r.status < 400 && !r.header("location").empty()) {
      url = resolve(url, r.header("location"));
      continue;
    }
    if (r.status < 200 || r.status >= 300)
      throw Error(ErrorKind::unavailable, "GET " + url + ": " + std::to_string(r.status) + " " + r.reason);
    out.url = url;
    if (const std::string lm = r.header("last-modified"); !lm.empty()) {
      struct tm tm {};
      if (::strptime(lm.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) out.last_modified = ::timegm(&tm);
    }
    return out;
  }
  throw Error(ErrorKind::unavailable, "GET " + url_in + ": more than 10 redirects");
}

std::string resolve(const std::string& base, const std::string& location) {
  Url u = parse_url(base);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, location.c_str(), 0) != CURLUE_OK)
    throw Error("invalid Location `" + location + "` (relative to " + base + ")");
  return url_part(u.get(), CURLUPART_URL);
}

std::string origin(const std::string& url) {
  Url u = parse_url(url);
  if (!u) return "";
  return lower(url_part(u.get(), CURLUPART_SCHEME)) + "://" +
         lower(url_part(u.get(), CURLUPART_HOST)) + ":" +
         url_part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
}

std::string path_of(const std::string& url) {
  Url u = parse_url(url);
  if (!u) return url;
  return url_part(u.get(), CURLUPART_PATH);
}

std::string host_of(const std::string& url) {
  Url u = parse_url(url);
  if (!u) return url;
  std::string host = url_part(u.get(), CURLUPART_HOST);
  std::string port = url_part(u.get(), CURLUPART_PORT);
  return port.empty() ? host : host + ":" + port;
}

std::string escape(std::string_view s) { return url_escape(s); }

std::string add_query(const std::string& url, std::string_view key, std::string_view value) {
  std::string out = url;
  auto hash = out.find('#');
  if (hash != std::string::npos) out.resize(hash);
  if (out.find('?') == std::string::npos)
    out += '?';
  else if (out.back() != '?' && out.back() != '&')
    out += '&';
  out += key;
  out += '=';
  out += escape(value);
  return out;
}

}  // namespace berth::distribution::http
