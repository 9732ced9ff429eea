// The Dockerfile front end (build/dockerfile.hpp, words.hpp, ignore.hpp): any text parses or
// fails with berth::Error; its stages split or fail the same way; every argument and flag
// goes through variable substitution (against a few variables, one of them long) within
// bounded memory or fails with berth::Error; the same text read as .dockerignore rules
// answers for a few paths. Nothing else escapes.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "build/dockerfile.hpp"
#include "build/ignore.hpp"
#include "build/words.hpp"
#include "common/error.hpp"

using namespace berth::build;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const std::string long_value(4096, 'x');
  const Lookup env = [](const std::string& n) -> std::optional<std::string> {
    if (n == "A") return std::string("value");
    if (n == "EMPTY") return std::string();
    if (n == "LONG") return long_value;
    return std::nullopt;
  };
  try {
    const Dockerfile df = parse_dockerfile(text);
    const Words w(df.escape);
    for (const Instruction& ins : df.instructions) {
      for (const std::string& a : ins.args) {
        try {
          (void)w.word(a, env);
          (void)w.words(a, env);
        } catch (const berth::Error&) {
        }
      }
      for (const auto& f : ins.flags) {
        try {
          (void)w.word(f.value, env);
        } catch (const berth::Error&) {
        }
      }
    }
    (void)split_stages(df);
  } catch (const berth::Error&) {
  }
  try {
    const IgnoreRules rules = IgnoreRules::parse(text);
    for (const char* p : {"a", "a/b/c.txt", "Dockerfile", ".git/config", "x/y"}) (void)rules.excluded(p);
    (void)clean_relative(text.substr(0, 256));
  } catch (const berth::Error&) {
  }
  return 0;
}
