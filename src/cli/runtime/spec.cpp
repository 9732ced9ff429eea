#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/container.hpp"

namespace berth::cli {

int cmd_spec(const Global&, int argc, char** argv, int first) {
  Args a("spec", {{"bundle", "b", true}, {"rootless", "", false}}, argc, argv, first);
  std::string path = a.get("bundle", ".") + "/config.json";
  if (fs::exists(path)) throw Error("spec: `" + path + "` already exists");
  fs::write_file_atomic(path, runtime::default_spec(a.has("rootless")).dump(2) + "\n", 0644);
  return 0;
}

}  // namespace berth::cli
