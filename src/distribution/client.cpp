#include "distribution/client.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/error.hpp"
#include "distribution/http.hpp"

namespace berth::distribution {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr int kMaxRedirects = 10;
constexpr size_t kMaxTokenResponse = 1 << 20;
constexpr size_t kMaxTagsPage = 16 << 20;
constexpr long kMaxBackoffMs = 10'000;

const std::string kAcceptManifests = "Accept: " + std::string(oci::media::kOciIndex) + ", " +
                                     std::string(oci::media::kOciManifest) + ", " +
                                     std::string(oci::media::kDockerManifestList) + ", " +
                                     std::string(oci::media::kDockerManifest);

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// Lowercase path components of [a-z0-9] separated by '.', '_', '__', '-'s (the spec's
// grammar, loosely: separators never at either end of a component).
bool valid_repository(std::string_view r) {
  if (r.empty() || r.size() > 255) return false;
  size_t start = 0;
  while (true) {
    size_t end = r.find('/', start);
    std::string_view c = r.substr(start, end == std::string_view::npos ? end : end - start);
    if (c.empty() || !is_alnum(c.front()) || !is_alnum(c.back())) return false;
    for (char ch : c)
      if (!is_alnum(ch) && ch != '.' && ch != '_' && ch != '-') return false;
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    bool ok =
        is_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && (c == '.' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

// A tag, or a digest when it has a colon. Throws on anything else (it becomes a URL path).
std::optional<Digest> check_reference(std::string_view ref) {
  if (ref.find(':') != std::string_view::npos) return Digest::parse(ref);
  if (!valid_tag(ref)) throw Error("invalid tag `" + std::string(ref) + "`");
  return std::nullopt;
}

std::string api_host(const std::string& registry) {
  if (registry == "docker.io" || registry == "index.docker.io") return "registry-1.docker.io";
  return registry;
}

std::string host_without_port(std::string_view registry) {
  if (registry.starts_with('[')) {
    auto close = registry.find(']');
    return std::string(registry.substr(1, close == std::string_view::npos ? close : close - 1));
  }
  return std::string(registry.substr(0, registry.find(':')));
}

bool is_loopback(const std::string& registry) {
  std::string host = host_without_port(registry);
  if (host == "localhost" || host == "::1") return true;
  if (!host.starts_with("127.")) return false;
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

// The scheme that worked for each insecure registry, for the whole process.
std::mutex g_scheme_mu;
std::map<std::string, std::string> g_scheme;

std::string media_type_of(std::string_view content_type) {
  std::string_view mt = content_type.substr(0, content_type.find(';'));
  while (!mt.empty() && mt.back() == ' ') mt.remove_suffix(1);
  std::string out(mt);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string one_line(std::string s, size_t max = 300) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (s.size() > max) s = s.substr(0, max) + "…";
  return s;
}

// What a registry or token server says in an error body: the spec's
// {"errors":[{"code","message","detail"}]}, or the "details"/"error_description"/"message"/
// "error" of token servers, or a short plain-text body.
std::string error_text(const std::string& body) {
  if (body.empty()) return "";
  json j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    std::string out;
    if (auto e = j.find("errors"); e != j.end() && e->is_array()) {
      for (const auto& err : *e) {
        std::string m;
        if (err.is_object()) {
          if (err.contains("message") && err["message"].is_string())
            m = err["message"];
          else if (err.contains("code") && err["code"].is_string())
            m = err["code"];
        }
        if (m.empty()) continue;
        if (!out.empty()) out += "; ";
        out += m;
      }
      if (!out.empty()) return one_line(out);
    }
    for (const char* key : {"details", "error_description", "message", "error"})
      if (auto v = j.find(key); v != j.end() && v->is_string() && !v->get<std::string>().empty())
        return one_line(v->get<std::string>());
    return "";
  }
  if (!j.is_discarded() || body.front() == '<') return "";  // JSON of another shape, or HTML
  std::string first = body.substr(0, body.find('\n'));
  return one_line(first, 200);
}

struct Token {
  std::vector<std::string> scopes;
  std::string value;
  Clock::time_point expires;
};

}  // namespace

bool is_insecure_registry(const std::string& registry, const RegistryOptions& options) {
  if (options.insecure || (options.loopback_insecure && is_loopback(registry))) return true;
  return std::find(options.insecure_registries.begin(), options.insecure_registries.end(),
                   registry) != options.insecure_registries.end();
}

struct Client::Impl {
  std::string registry, repository;
  RegistryOptions opt;
  std::string host;  // where the API is served
  bool insecure;
  http::HandlePool pool;

  std::mutex mu;            // guards the auth state below
  std::string auth_scheme;  // "", "bearer" or "basic": what the registry asked for
  std::string realm, service;
  std::vector<Token> tokens;
  std::mutex token_fetch_mu;  // one token request at a time

  // One logical request: the Client adds the scheme and host, auth, redirects and retries.
  struct Op {
    std::string method;
    std::string target;  // "/v2/…" on the registry, or an absolute URL (upload locations)
    std::vector<std::string> headers;
    std::optional<std::string_view> body;
    Source reader;  // a streamed body: the request cannot be replayed
    int64_t upload_size = 0;
    Sink sink;
    size_t max_body = 1 << 20;
    std::function<void(const http::Response&)> on_headers;
    std::vector<std::string> scopes;
    bool retry = true;  // safe to send again after a 5xx or a connection failure

    bool replayable() const { return !reader; }
  };

  Impl(std::string r, std::string repo, RegistryOptions o)
      : registry(std::move(r)),
        repository(std::move(repo)),
        opt(std::move(o)),
        host(api_host(registry)),
        insecure(is_insecure_registry(registry, opt)) {}

  std::string prefix() const { return "registry " + registry + ": "; }
  std::string pull_scope(std::string_view repo) const {
    return "repository:" + std::string(repo) + ":pull";
  }
  std::string push_scope() const { return "repository:" + repository + ":pull,push"; }
  std::string repo_path() const {
    if (repository.empty()) throw Error(prefix() + "no repository given");
    return "/v2/" + repository;
  }

  std::optional<Credentials> credentials() const {
    if (!opt.credentials) return std::nullopt;
    return opt.credentials(registry);
  }

  // The scheme to use now: https, or http once https failed for an insecure registry.
  std::string scheme(bool* confirmed) const {
    std::lock_guard lock(g_scheme_mu);
    auto it = insecure ? g_scheme.find(registry) : g_scheme.end();
    if (confirmed) *confirmed = !insecure || it != g_scheme.end();
    return it != g_scheme.end() ? it->second : "https";
  }
  void set_scheme(const std::string& s) {
    std::lock_guard lock(g_scheme_mu);
    g_scheme[registry] = s;
  }
  std::string base_url() const { return scheme(nullptr) + "://" + host; }

  std::string what(const Op& op) const {
    std::string path = op.target.starts_with("/") ? op.target.substr(0, op.target.find('?'))
                                                  : http::path_of(op.target);
    return op.method + " " + path;
  }

  http::Request request(const std::string& method, const std::string& url) const {
    http::Request req;
    req.method = method;
    req.url = url;
    req.verify_tls = !insecure;
    req.ca_file = opt.ca_file;
    req.connect_timeout_ms = opt.connect_timeout_ms;
    req.stall_timeout_ms = opt.stall_timeout_ms;
    req.user_agent = opt.user_agent;
    return req;
  }

  void backoff(int attempt) const {
    long ms = opt.retry_backoff_ms;
    for (int i = 0; i < attempt && ms < kMaxBackoffMs; ++i) ms *= 2;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(ms, kMaxBackoffMs)));
  }

  // Runs attempt() again after 5xx answers and retryable transport failures (when `retry`);
  // transport failures that remain become one-line Errors.
  template <class F>
  http::Response retrying(const std::string& what, bool retry, F&& attempt) {
    for (int n = 0;; ++n) {
      bool more = retry && n < opt.retries;
      try {
        http::Response r = attempt();
        if (r.status >= 500 && more) {
          backoff(n);
          continue;
        }
        return r;
      } catch (const http::TransportError& e) {
        if (e.retryable() && more) {
          backoff(n);
          continue;
        }
        std::string tries = n > 0 ? " (" + std::to_string(n + 1) + " attempts)" : "";
        throw Error(prefix() + what + ": " + e.what() + tries);
      }
    }
  }

  [[noreturn]] void fail(const Op& op, const http::Response& r) const {
    std::string msg = prefix() + what(op) + ": " + std::to_string(r.status);
    if (!r.reason.empty()) msg += " " + r.reason;
    if (std::string text = error_text(r.body); !text.empty()) msg += ": " + text;
    if (!r.url.empty() && http::host_of(r.url) != host)
      msg += " (from " + http::host_of(r.url) + ")";
    if (r.status == 401 && !credentials()) msg += " (no credentials for " + registry + ")";
    throw Error(msg);
  }

  // --- auth -------------------------------------------------------------------------------

  std::optional<std::string> cached_token(const std::vector<std::string>& scopes) {
    std::lock_guard lock(mu);
    auto now = Clock::now();
    std::erase_if(tokens, [&](const Token& t) { return t.expires <= now; });
    for (const Token& t : tokens)
      if (scopes_cover(t.scopes, scopes)) return t.value;
    return std::nullopt;
  }

  // A token from the realm for these scopes (anonymous without credentials).
  std::string fetch_token(const std::vector<std::string>& scopes, bool fresh) {
    std::lock_guard fetch_lock(token_fetch_mu);
    if (!fresh)
      if (auto t = cached_token(scopes)) return *t;
    std::string url, svc;
    {
      std::lock_guard lock(mu);
      url = realm;
      svc = service;
    }
    if (!svc.empty()) url = http::add_query(url, "service", svc);
    for (const auto& s : scopes) url = http::add_query(url, "scope", s);
    http::Request req = request("GET", url);
    req.max_body = kMaxTokenResponse;
    if (auto c = credentials())
      req.headers.push_back("Authorization: Basic " +
                            base64_encode(c->username + ":" + c->password));
    std::string what = "token from " + http::origin(realm) + http::path_of(realm);
    http::Response r = retrying(what, true, [&] {
      auto lease = pool.acquire();
      return http::perform(lease.get(), req);
    });
    if (r.status != 200) {
      std::string msg = prefix() + what + ": " + std::to_string(r.status);
      if (!r.reason.empty()) msg += " " + r.reason;
      if (std::string text = error_text(r.body); !text.empty()) msg += ": " + text;
      throw Error(msg);
    }
    json j = json::parse(r.body, nullptr, false);
    std::string value;
    if (j.is_object()) {
      for (const char* key : {"token", "access_token"})
        if (auto v = j.find(key);
            v != j.end() && v->is_string() && !v->get<std::string>().empty()) {
          value = *v;
          break;
        }
    }
    if (value.empty()) throw Error(prefix() + what + ": no token in the answer");
    long expires_in = 60;
    if (auto v = j.find("expires_in"); v != j.end() && v->is_number_integer())
      expires_in = std::max<long>(v->get<long>(), 60);
    std::lock_guard lock(mu);
    tokens.push_back(Token{scopes, value, Clock::now() + std::chrono::seconds(expires_in - 5)});
    return value;
  }

  // The Authorization value for a request to the registry itself, if it wants one.
  std::optional<std::string> authorization(const std::vector<std::string>& scopes) {
    std::string s;
    {
      std::lock_guard lock(mu);
      s = auth_scheme;
    }
    if (s == "basic") {
      if (auto c = credentials()) return "Basic " + base64_encode(c->username + ":" + c->password);
      return std::nullopt;
    }
    if (s == "bearer") {
      if (auto t = cached_token(scopes)) return "Bearer " + *t;
      return "Bearer " + fetch_token(scopes, false);
    }
    return std::nullopt;
  }

  // After a 401 from the registry: learns its challenge and prepares credentials. False when
  // there is nothing to retry with.
  bool answer_challenge(const http::Response& r, const std::vector<std::string>& scopes) {
    std::vector<Challenge> all;
    for (const auto& h : r.all("www-authenticate"))
      for (auto& c : parse_challenges(h)) all.push_back(std::move(c));
    auto find = [&](std::string_view scheme) -> const Challenge* {
      for (const auto& c : all)
        if (c.scheme == scheme) return &c;
      return nullptr;
    };
    if (const Challenge* b = find("bearer")) {
      auto realm_it = b->params.find("realm");
      if (realm_it == b->params.end() || realm_it->second.empty())
        throw Error(prefix() + "Bearer challenge without a realm");
      std::vector<std::string> want = scopes;
      if (auto sc = b->params.find("scope"); sc != b->params.end()) {
        std::string_view rest = sc->second;
        while (!rest.empty()) {
          auto sp = rest.find(' ');
          std::string one(rest.substr(0, sp));
          if (!one.empty() && std::find(want.begin(), want.end(), one) == want.end())
            want.push_back(one);
          if (sp == std::string_view::npos) break;
          rest.remove_prefix(sp + 1);
        }
      }
      {
        std::lock_guard lock(mu);
        auth_scheme = "bearer";
        realm = realm_it->second;
        auto sv = b->params.find("service");
        service = sv == b->params.end() ? "" : sv->second;
        // A token covering these scopes was just refused (or there was none).
        std::erase_if(tokens, [&](const Token& t) { return scopes_cover(t.scopes, scopes); });
      }
      fetch_token(want, true);
      return true;
    }
    if (find("basic")) {
      if (!credentials()) return false;
      std::lock_guard lock(mu);
      auth_scheme = "basic";
      return true;
    }
    return false;
  }

  // --- exchanges --------------------------------------------------------------------------

  // One attempt at op: the scheme fallback of insecure registries, auth and redirects.
  http::Response exchange(const Op& op) {
    bool absolute = !op.target.starts_with("/");
    bool confirmed = true;
    std::string url = absolute ? op.target : scheme(&confirmed) + "://" + host + op.target;
    bool may_fall_back = !absolute && !confirmed;
    if (may_fall_back && opt.scheme_hint && opt.scheme_hint(registry) == "http")
      url = "http://" + url.substr(8);
    std::string home = http::origin(absolute ? base_url() : url);  // the registry's origin
    const std::string& method = op.method;
    bool auth_retried = false, fell_back = false;
    int redirects = 0;
    auto lease = pool.acquire();
    while (true) {
      http::Request req = request(method, url);
      req.headers = op.headers;
      req.body = op.body;
      req.reader = op.reader;
      req.upload_size = op.upload_size;
      req.sink = op.sink;
      req.max_body = op.max_body;
      req.on_headers = op.on_headers;
      bool same_origin = http::origin(url) == home;
      if (same_origin)
        if (auto a = authorization(op.scopes)) req.headers.push_back("Authorization: " + *a);

      http::Response r;
      try {
        r = http::perform(lease.get(), req);
      } catch (const http::TransportError& e) {
        // Docker falls back on any failure of the first contact; so does podman.
        if (may_fall_back && !e.answered()) {
          // The other scheme, once: https → http (Docker's order), or back from a stale hint.
          url = url.starts_with("https://") ? "http://" + url.substr(8) : "https://" + url.substr(7);
          home = http::origin(url);
          may_fall_back = false;
          fell_back = true;
          continue;
        }
        throw;
      }
      // A stale "http" hint against a registry that now speaks TLS: Go's TLS server answers
      // plain HTTP with 400; try https before believing it.
      if (may_fall_back && url.starts_with("http://") && r.status == 400) {
        url = "https://" + url.substr(7);
        home = http::origin(url);
        may_fall_back = false;
        fell_back = true;
        continue;
      }
      if (may_fall_back || fell_back) {  // remembered once something answered
        const std::string answered = url.substr(0, url.find(':'));
        set_scheme(answered);
        if (opt.on_scheme) opt.on_scheme(registry, answered);
        may_fall_back = fell_back = false;
      }
      r.url = url;

      bool redirect = r.status == 301 || r.status == 302 || r.status == 303 || r.status == 307 ||
                      r.status == 308;
      if (redirect && (method == "GET" || method == "HEAD") && !r.header("location").empty()) {
        if (++redirects > kMaxRedirects) throw Error(prefix() + what(op) + ": too many redirects");
        url = http::resolve(url, r.header("location"));
        continue;
      }
      if (r.status == 401 && same_origin && !auth_retried && op.replayable() &&
          answer_challenge(r, op.scopes)) {
        auth_retried = true;
        continue;
      }
      return r;
    }
  }

  http::Response call(const Op& op) {
    return retrying(what(op), op.retry && op.replayable(), [&] { return exchange(op); });
  }

  std::string location(const Op& op, const http::Response& r) const {
    std::string loc = r.header("location");
    if (loc.empty()) throw Error(prefix() + what(op) + ": no Location in the answer");
    return http::resolve(r.url, loc);
  }

  // Cancels an upload the registry started (best effort).
  void cancel_upload(const std::string& url) {
    Op del{"DELETE", url};
    del.scopes = {push_scope()};
    del.retry = false;
    try {
      (void)exchange(del);
    } catch (const std::exception&) {
    }
  }

  void check_digest_header(const Op& op, const http::Response& r, const Digest& expected) const {
    std::string h = r.header("docker-content-digest");
    if (h.empty()) return;
    Digest got;
    try {
      got = Digest::parse(h);
    } catch (const Error&) {
      throw Error(prefix() + what(op) + ": invalid Docker-Content-Digest `" + one_line(h) + "`");
    }
    if (got.algorithm == expected.algorithm && got != expected)
      throw Error(prefix() + what(op) + ": registry reports digest " + got.str() + ", expected " +
                  expected.str());
  }
};

Client::Client(std::string registry, std::string repository, RegistryOptions options) {
  if (registry.empty()) throw Error("registry: empty name");
  if (!repository.empty() && !valid_repository(repository))
    throw Error("registry " + registry + ": invalid repository name `" + repository + "`");
  http::global_init();
  impl_ = std::make_unique<Impl>(std::move(registry), std::move(repository), std::move(options));
}

Client::~Client() = default;

const std::string& Client::registry() const {
  return impl_->registry;
}
const std::string& Client::repository() const {
  return impl_->repository;
}

void Client::ping() {
  Impl::Op op{"GET", "/v2/"};
  http::Response r = impl_->call(op);
  if (r.status != 200) impl_->fail(op, r);
}

Fetched Client::get_manifest(std::string_view ref) {
  Impl& s = *impl_;
  std::optional<Digest> by_digest = check_reference(ref);
  Impl::Op op{"GET", s.repo_path() + "/manifests/" + std::string(ref)};
  op.headers = {kAcceptManifests};
  op.max_body = oci::kMaxManifestSize;
  op.scopes = {s.pull_scope(s.repository)};
  http::Response r = s.call(op);
  if (r.status != 200) s.fail(op, r);

  std::string where = s.prefix() + "manifest " + std::string(ref) + ": ";
  std::string mt = media_type_of(r.header("content-type"));
  if (!oci::media::is_index(mt) && !oci::media::is_manifest(mt)) {
    json doc = json::parse(r.body, nullptr, false);
    if (!doc.is_object()) throw Error(where + "not a JSON object");
    if (!doc.contains("mediaType") && doc.value("schemaVersion", 0) == 1)
      mt = "application/vnd.docker.distribution.manifest.v1+json";
    else if (mt.empty() || mt == "application/json" || mt == "text/plain" ||
             mt == "application/octet-stream")
      mt = oci::document_media_type(doc, "manifest");
    if (mt.starts_with("application/vnd.docker.distribution.manifest.v1"))
      throw Error(where + "Docker schema 1 manifests are not supported");
    if (!oci::media::is_index(mt) && !oci::media::is_manifest(mt))
      throw Error(where + "unsupported media type `" + one_line(mt) + "`");
  }

  Digest d;
  if (by_digest) {
    Hasher h(by_digest->algorithm);
    h.update(r.body);
    d = h.digest();
    if (d != *by_digest) throw Error(where + "digest mismatch: received content is " + d.str());
  } else {
    d = sha256_of(r.body);
    s.check_digest_header(op, r, d);
  }
  Fetched f;
  f.descriptor.mediaType = mt;
  f.descriptor.digest = d;
  f.descriptor.size = static_cast<int64_t>(r.body.size());
  f.body = std::move(r.body);
  return f;
}

std::optional<oci::Descriptor> Client::head_manifest(std::string_view ref) {
  Impl& s = *impl_;
  std::optional<Digest> by_digest = check_reference(ref);
  Impl::Op op{"HEAD", s.repo_path() + "/manifests/" + std::string(ref)};
  op.headers = {kAcceptManifests};
  op.scopes = {s.pull_scope(s.repository)};
  http::Response r = s.call(op);
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) s.fail(op, r);
  std::string mt = media_type_of(r.header("content-type"));
  std::string h = r.header("docker-content-digest");
  if (h.empty() || r.content_length < 0 ||
      (!oci::media::is_index(mt) && !oci::media::is_manifest(mt)))
    return get_manifest(ref).descriptor;
  oci::Descriptor d;
  d.mediaType = mt;
  d.size = r.content_length;
  try {
    d.digest = Digest::parse(h);
  } catch (const Error&) {
    throw Error(s.prefix() + s.what(op) + ": invalid Docker-Content-Digest `" + one_line(h) + "`");
  }
  if (by_digest && d.digest != *by_digest)
    throw Error(s.prefix() + s.what(op) + ": registry reports digest " + d.digest.str());
  return d;
}

Digest Client::put_manifest(std::string_view ref, std::string_view media_type,
                            std::string_view body) {
  Impl& s = *impl_;
  std::optional<Digest> by_digest = check_reference(ref);
  Digest d = sha256_of(body);
  if (by_digest) {
    Hasher h(by_digest->algorithm);
    h.update(body);
    if (h.digest() != *by_digest)
      throw Error(s.prefix() + "manifest " + std::string(ref) + ": content has digest " + d.str());
  }
  if (body.size() > oci::kMaxManifestSize)
    throw Error(s.prefix() + "manifest " + std::string(ref) + ": larger than " +
                std::to_string(oci::kMaxManifestSize) + " bytes");
  Impl::Op op{"PUT", s.repo_path() + "/manifests/" + std::string(ref)};
  op.headers = {"Content-Type: " + std::string(media_type)};
  op.body = body;
  op.scopes = {s.push_scope()};
  http::Response r = s.call(op);
  if (r.status < 200 || r.status >= 300) s.fail(op, r);
  s.check_digest_header(op, r, d);
  return d;
}

std::vector<std::string> Client::list_tags() {
  Impl& s = *impl_;
  std::vector<std::string> tags;
  std::string target = s.repo_path() + "/tags/list";
  for (int page = 0; page < 10'000 && !target.empty(); ++page) {
    Impl::Op op{"GET", target};
    op.max_body = kMaxTagsPage;
    op.scopes = {s.pull_scope(s.repository)};
    http::Response r = s.call(op);
    if (r.status != 200) s.fail(op, r);
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) throw Error(s.prefix() + s.what(op) + ": invalid JSON");
    if (auto t = j.find("tags"); t != j.end() && t->is_array())
      for (const auto& v : *t)
        if (v.is_string()) tags.push_back(v);
    // Link: </v2/name/tags/list?n=100&last=x>; rel="next"
    std::string link = r.header("link");
    target.clear();
    auto lt = link.find('<'), gt = link.find('>');
    if (lt != std::string::npos && gt != std::string::npos && gt > lt &&
        link.find("rel=\"next\"") != std::string::npos)
      target = http::resolve(r.url, link.substr(lt + 1, gt - lt - 1));
  }
  return tags;
}

std::optional<int64_t> Client::blob_size(const Digest& digest) {
  Impl& s = *impl_;
  Impl::Op op{"HEAD", s.repo_path() + "/blobs/" + digest.str()};
  op.scopes = {s.pull_scope(s.repository)};
  http::Response r = s.call(op);
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) s.fail(op, r);
  return std::max<int64_t>(r.content_length, 0);
}

bool Client::blob_exists(const Digest& digest) {
  return blob_size(digest).has_value();
}

void Client::get_blob(const Digest& digest, int64_t offset, const Sink& sink,
                      const Progress& progress) {
  Impl& s = *impl_;
  if (offset < 0) throw Error(s.prefix() + "blob " + digest.str() + ": negative offset");
  int64_t pos = offset, total = -1, skip = 0;
  int failures = 0;
  while (true) {
    Impl::Op op{"GET", s.repo_path() + "/blobs/" + digest.str()};
    op.scopes = {s.pull_scope(s.repository)};
    if (pos > 0) op.headers.push_back("Range: bytes=" + std::to_string(pos) + "-");
    op.on_headers = [&](const http::Response& r) {
      skip = 0;
      if (r.status == 206) {
        // Content-Range: bytes START-END/TOTAL (TOTAL may be *)
        std::string cr = r.header("content-range");
        long long start = -1, end = -1, size = -1;
        if (std::sscanf(cr.c_str(), "bytes %lld-%lld/%lld", &start, &end, &size) < 2 ||
            start != pos)
          throw Error(s.prefix() + s.what(op) + ": Content-Range `" + one_line(cr) +
                      "` does not start at " + std::to_string(pos));
        total = size >= 0 ? size : (r.content_length >= 0 ? pos + r.content_length : -1);
      } else {  // the whole blob: drop what we have already
        skip = pos;
        total = r.content_length;
      }
      if (progress) progress(pos, total);
    };
    op.sink = [&](const char* data, size_t n) {
      if (skip > 0) {
        size_t drop = static_cast<size_t>(std::min<int64_t>(skip, static_cast<int64_t>(n)));
        skip -= static_cast<int64_t>(drop);
        data += drop;
        n -= drop;
        if (n == 0) return;
      }
      sink(data, n);
      pos += static_cast<int64_t>(n);
      if (progress) progress(pos, total);
    };
    int64_t start = pos;
    http::Response r;
    try {
      r = s.exchange(op);
    } catch (const http::TransportError& e) {
      if (pos > start) failures = 0;
      if (e.retryable() && failures < s.opt.retries) {
        s.backoff(failures++);
        continue;
      }
      std::string at = pos > 0 ? " (at byte " + std::to_string(pos) + ")" : "";
      throw Error(s.prefix() + s.what(op) + ": " + e.what() + at);
    }
    if (r.status == 200 || r.status == 206) {
      if (skip > 0 || (total >= 0 && pos != total))
        throw Error(s.prefix() + s.what(op) + ": blob ended at byte " + std::to_string(pos) +
                    (total >= 0 ? " of " + std::to_string(total) : ""));
      return;
    }
    if (r.status >= 500 && failures < s.opt.retries) {
      s.backoff(failures++);
      continue;
    }
    s.fail(op, r);
  }
}

std::string Client::get_blob_bytes(const Digest& digest, size_t max_size) {
  Impl& s = *impl_;
  std::string out;
  std::string where = s.prefix() + "blob " + digest.str() + ": ";
  get_blob(digest, 0, [&](const char* data, size_t n) {
    if (out.size() + n > max_size)
      throw Error(where + "larger than " + std::to_string(max_size) + " bytes");
    out.append(data, n);
  });
  Hasher h(digest.algorithm);
  h.update(out);
  if (Digest got = h.digest(); got != digest)
    throw Error(where + "digest mismatch: received content is " + got.str());
  return out;
}

bool Client::mount_blob(const Digest& digest, std::string_view from) {
  Impl& s = *impl_;
  if (!valid_repository(from))
    throw Error(s.prefix() + "invalid repository name `" + std::string(from) + "`");
  Impl::Op op{"POST", s.repo_path() + "/blobs/uploads/?mount=" + http::escape(digest.str()) +
                          "&from=" + http::escape(from)};
  op.scopes = {s.push_scope(), s.pull_scope(from)};
  http::Response r = s.call(op);
  if (r.status == 201) return true;
  if (r.status == 202) {
    if (!r.header("location").empty()) s.cancel_upload(s.location(op, r));
    return false;
  }
  s.fail(op, r);
}

void Client::put_blob(const Digest& digest, int64_t size, const Source& read, int64_t chunk_size,
                      const Progress& progress) {
  Impl& s = *impl_;
  if (size < 0) throw Error(s.prefix() + "blob " + digest.str() + ": negative size");
  Impl::Op start{"POST", s.repo_path() + "/blobs/uploads/"};
  start.scopes = {s.push_scope()};
  http::Response r = s.call(start);
  if (r.status != 202) s.fail(start, r);
  std::string loc = s.location(start, r);

  int64_t sent = 0;
  if (progress) progress(0, size);
  if (chunk_size > 0) {
    std::string buf(static_cast<size_t>(std::min(chunk_size, std::max<int64_t>(size, 1))), '\0');
    while (sent < size) {
      size_t want = static_cast<size_t>(std::min<int64_t>(chunk_size, size - sent));
      size_t have = 0;
      while (have < want) {
        size_t got = read(buf.data() + have, want - have);
        if (got == 0) break;
        have += std::min(got, want - have);
      }
      if (have < want) {
        s.cancel_upload(loc);
        throw Error(s.prefix() + "blob " + digest.str() + ": source ended after " +
                    std::to_string(sent + static_cast<int64_t>(have)) + " of " +
                    std::to_string(size) + " bytes");
      }
      Impl::Op patch{"PATCH", loc};
      patch.headers = {"Content-Type: application/octet-stream",
                       "Content-Range: " + std::to_string(sent) + "-" +
                           std::to_string(sent + static_cast<int64_t>(have) - 1)};
      patch.body = std::string_view(buf.data(), have);
      patch.scopes = start.scopes;
      patch.retry = false;  // the registry may have taken part of it
      r = s.call(patch);
      if (r.status != 202) s.fail(patch, r);
      if (!r.header("location").empty()) loc = s.location(patch, r);
      sent += static_cast<int64_t>(have);
      if (progress) progress(sent, size);
    }
    Impl::Op put{"PUT", http::add_query(loc, "digest", digest.str())};
    put.headers = {"Content-Type: application/octet-stream"};
    put.body = std::string_view();
    put.scopes = start.scopes;
    r = s.call(put);
    if (r.status != 201) s.fail(put, r);
    s.check_digest_header(put, r, digest);
    return;
  }

  Impl::Op put{"PUT", http::add_query(loc, "digest", digest.str())};
  put.headers = {"Content-Type: application/octet-stream"};
  put.scopes = start.scopes;
  put.upload_size = size;
  put.reader = [&](char* buf, size_t n) {
    size_t got = read(buf, n);
    sent += static_cast<int64_t>(got);
    if (progress && got) progress(sent, size);
    return got;
  };
  if (size == 0) {
    put.reader = nullptr;
    put.body = std::string_view();
  }
  r = s.call(put);
  if (r.status != 201) s.fail(put, r);
  s.check_digest_header(put, r, digest);
}

}  // namespace berth::distribution
