// Registry authentication pieces: credentials, base64, WWW-Authenticate challenges and token
// scopes (the distribution token spec: "repository:library/busybox:pull,push").
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::distribution {

struct Credentials {
  std::string username, password;
};

// Standard alphabet with padding.
std::string base64_encode(std::string_view data);
// Standard alphabet, padding optional. Throws berth::Error("invalid base64: …").
std::string base64_decode(std::string_view text);

struct Challenge {
  std::string scheme;                         // lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  // lowercase keys: realm, service, scope, error
};

// Every challenge of a WWW-Authenticate value (one header may carry several, comma-separated,
// and parameters may be quoted strings with backslash escapes).
std::vector<Challenge> parse_challenges(std::string_view header);

// Whether the scopes in `have` grant everything `want` asks: the same type and name, and a
// superset of the actions ("*" grants all). "repository:a:pull,push" covers "repository:a:pull".
bool scopes_cover(const std::vector<std::string>& have, const std::vector<std::string>& want);

}  // namespace berth::distribution
