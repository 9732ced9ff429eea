// Network namespaces that outlive processes (bind mounts of nsfs files, like `ip netns add`),
// and the few link operations berth does itself (the plugins do the rest).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::network {

// A new network namespace bind-mounted at `path` (a new file), with its loopback up. Throws,
// leaving nothing behind, when it cannot.
void create_netns(const std::string& path);
// Unmounts and removes a namespace made by create_netns (nothing if it is not there).
void remove_netns(const std::string& path);
// A second path for the namespace at `from` (a bind mount at `path`, which must not exist).
void bind_netns(const std::string& from, const std::string& path);
// Whether `path` is a namespace file (nsfs), not the plain file a lost mount leaves.
bool is_netns(const std::string& path);

// Deletes the link `name` of the host's namespace; false if there is none.
bool delete_link(const std::string& name);
// Whether the host's namespace has a link `name`.
bool link_exists(const std::string& name);

// An interface of a network namespace with its counters.
struct InterfaceUsage {
  std::string name;
  uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
};
// The interfaces of a /proc/net/dev text but lo.
std::vector<InterfaceUsage> parse_net_dev(std::string_view text);

}  // namespace berth::network
