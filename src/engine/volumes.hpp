// Named volumes, local driver (Docker's): <root>/volumes/<ns>/<name>/_data is the volume,
// <root>/volumes/<ns>/<name>/volume.json its record (created, labels, anonymous, options).
// Creating one is a mkdir, so two berth processes cannot make the same name twice.
// Docker's local driver options (`volume create -o type=tmpfs -o device=tmpfs -o o=size=64m`,
// `-o type=none -o o=bind -o device=/srv/data`, nfs, …): the device is mounted on _data for
// the containers that use it (mount), and unmounted when the last one stops (unmount).
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
  std::map<std::string, std::string> options;  // the local driver's: type, device, o
};

class VolumeStore {
 public:
  VolumeStore(const std::string& root, const std::string& ns);

  // Docker's rule for names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (one character is allowed too).
  static bool valid_name(const std::string& name);

  // Creates `name` (a random 64-hex name when empty). Existing: returned as is unless
  // must_be_new ("volume \"x\" already exists").
  // `options` are checked first (Docker's rules: only type, device and o; type and device go
  // together, o needs a device).
  Volume create(const std::string& name, const std::map<std::string, std::string>& labels = {},
                bool anonymous = false, bool must_be_new = false,
                const std::map<std::string, std::string>& options = {});
  std::optional<Volume> get(const std::string& name) const;
  std::vector<Volume> list() const;
  // Removes the volume and its data (a mounted device unmounted first: never its files);
  // false when it did not exist.
  bool remove(const std::string& name);
  // A volume with options: `user` (a container id) recorded as using it, and its device
  // mounted on _data unless it is already. Throws the mount's failure, naming the volume.
  void mount(const Volume& v, const std::string& user) const;
  // `user` is done with it: the device unmounted when no user is left (Docker's reference
  // count; a user killed without its cleanup keeps it mounted until volume rm).
  void release(const Volume& v, const std::string& user) const;
  // Its device unmounted, whoever is recorded (nothing when it is not mounted).
  void unmount(const Volume& v) const;
  // Whether _data has a mount on it.
  bool mounted(const Volume& v) const;
  nlohmann::json inspect(const Volume& v) const;

 private:
  std::string dir_;
};

}  // namespace berth::engine
