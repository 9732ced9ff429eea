// Helpers the Docker API's handlers share.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <vector>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/http.hpp"
#include "engine/model.hpp"

namespace berth::api::docker {

// Docker's multiplexed stream frame: [stream, 0, 0, 0, size (big-endian 32)] then the data;
// stream 0 stdin, 1 stdout, 2 stderr.
std::string mux_frame(int stream, std::string_view data);

// Runs produce(fd) on a thread of its own writing to a pipe, and streams what it writes as
// the response body (chunked, `content_type`); the response starts with the first byte, so a
// failure before it is still an error response. A client that goes away closes the pipe (the
// producer's writes fail with EPIPE).
void stream_from(Exchange& ex, std::string_view content_type, const std::function<void(int fd)>& produce,
                 const Exchange::Headers& headers = {});

// Feeds the request body to consume(fd) running on a thread of its own reading a pipe; the
// consumer's exception, if any, is rethrown here.
void feed_to(Exchange& ex, const std::function<void(int fd)>& consume);

// The content type of an attached stream: raw with a terminal, else multiplexed frames.
std::string tty_content_type(bool tty);

// Go's os.FileMode of a st_mode (what Docker's path stat carries).
uint32_t go_file_mode(uint32_t st_mode);

// Unix ns → RFC 3339 with nanoseconds, UTC ("0001-01-01T00:00:00Z" for 0, Go's zero time).
std::string rfc3339(int64_t ns);

using Filters = std::map<std::string, std::vector<std::string>>;
// Docker's filter rules: the values of one key are alternatives (any), labels must all hold
// (all); a key not given holds.
bool filter_any(const Filters& f, const std::string& key, const std::function<bool(const std::string&)>& ok);
bool filter_all(const Filters& f, const std::string& key, const std::function<bool(const std::string&)>& ok);
// A list's filters: only `keys` (400 "invalid filter 'k'" for another, as Docker's daemon),
// and dangling (when one of them) only true, false, 1 or 0.
void check_filters(const Filters& f, std::initializer_list<const char*> keys);

// The prunes' filters: label, label!, until (unix seconds, RFC 3339, or a Go duration before
// now: "24h", "1h30m"); with `all` given, also all=true|false (volumes). Other keys: 400.
engine::PruneFilter prune_filter(const std::string& filters_json, bool* all = nullptr);

// berth's default network is Docker's `bridge` to the API's clients: its name in what the API
// shows (listings, inspect, events), `default` for a container's HostConfig.NetworkMode (what
// dockerd records for a container that named no network). Requests already map `bridge` and
// `default` to it (the engine's Networks::find, network_ref).
std::string docker_network_name(const std::string& name);
std::string docker_network_mode(const std::string& mode);
// A container's NetworkSettings.Networks (or any map keyed by network name) with Docker's names.
nlohmann::json docker_network_keys(const nlohmann::json& networks);

// A query integer ("" → def); invalid_argument naming `what` otherwise.
int64_t int_param(const Request& req, const std::string& key, int64_t def);

}  // namespace berth::api::docker
