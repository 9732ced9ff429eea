// The kernel's connection tracking table, over ctnetlink: what publishing a UDP port needs.
//
// A UDP flow that began before a host port was published (a client already sending to it:
// the kernel tracked it with no translation) keeps that entry, and so misses the new DNAT rule,
// for as long as it keeps sending; one that began while the port was published keeps going
// to the container after it has gone. Docker's libnetwork and the portmap plugin delete those
// entries when they publish and unpublish; so does berth.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace berth::network {

// Deletes the IPv4 entries whose original direction is UDP to one of `ports` (host byte order)
// at `host_ip` (dotted; "" = any address). Returns how many went. Throws on a netlink error
// other than the table being gone (no conntrack module: nothing to delete).
int delete_udp_conntrack(const std::string& host_ip, const std::vector<uint16_t>& ports);

}  // namespace berth::network
