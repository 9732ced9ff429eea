// Named volumes, local driver (Docker's): <root>/volumes/<ns>/<name>/_data is the volume,
// <root>/volumes/<ns>/<name>/volume.json its record (created, labels, anonymous). Creating one
// is a mkdir, so two berth processes cannot make the same name twice.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::engine {

// 64 hex digits from /dev/urandom: container ids and anonymous volume names (Docker's form).
std::string random_id();

struct Volume {
  std::string name;
  std::string mountpoint;  // the _data directory
  std::map<std::string, std::string> labels;
  int64_t created = 0;     // unix seconds
  bool anonymous = false;
};

class VolumeStore {
 public:
  VolumeStore(const std::string& root, const std::string& ns);

  // Docker's rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (one character is allowed too).
  static bool valid_name(const std::string& name);

  // Creates `name` (a random 64-hex name when empty). Existing: returned as is unless
  // must_be_new ("volume \"x\" already exists").
  Volume create(const std::string& name, const std::map<std::string, std::string>& labels = {},
                bool anonymous = false, bool must_be_new = false);
  std::optional<Volume> get(const std::string& name) const;
  std::vector<Volume> list() const;
  // Removes the volume and its data; false when it did not exist.
  bool remove(const std::string& name);
  nlohmann::json inspect(const Volume& v) const;

 private:
  std::string dir_;
};

}  // namespace berth::engine
