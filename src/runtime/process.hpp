// Steps shared by the container's init and by `exec`'d processes just before execve.
#pragma once

#include <string>
#include <vector>

#include "oci/spec.hpp"

namespace berth::runtime {

std::string env_value(const std::vector<std::string>& env, const std::string& key);
// PATH lookup as execvp would do it, with runc's messages (engines map them to exit 126/127).
std::string find_executable(const std::string& name, const std::vector<std::string>& env);
void set_rlimits(const oci::Process& p);
// False in a user namespace whose /proc/self/setgroups says "deny".
bool setgroups_allowed();
// argv/envp views of strings (the strings must outlive the result).
std::vector<char*> cstrings(std::vector<std::string>& v);

}  // namespace berth::runtime
