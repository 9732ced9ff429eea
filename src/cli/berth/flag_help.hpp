// One line of help per flag of each `berth` verb (berth VERB --help), as Docker's CLI shows it:
//   -t, --time int      Seconds to wait before killing the container (default 10)
#pragma once

#include <string_view>

namespace berth::cli {

struct FlagHelp {
  const char* command;  // the verb as in "== VERB" ("run", "network create"); "" for every verb
  const char* flag;     // long name without dashes ("detach")
  const char* type;     // Docker's value type shown after the flag: "string", "int", "list",
                        // "bytes", "duration", "uint", "map", "filter", "stringArray"…; "" for a boolean
  const char* text;     // the description, ending with " (default X)" when there is a default
};

// The entry for `flag` of `command`: the verb's own if there is one, else the common one
// (command ""); nullptr when there is none.
const FlagHelp* flag_help(std::string_view command, std::string_view flag);

}  // namespace berth::cli
