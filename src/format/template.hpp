// Go text/template, as Docker's --format uses it, over JSON documents: what `docker inspect
// -f` and `docker ps --format` scripts are written in.
//
// Supported: text and actions with trim markers ({{- -}}) and comments; field chains on dot
// and on variables (.State.Status, $c.Id, (index .Mounts 0).Source); string (interpreted and
// raw), number, bool and nil literals; pipelines (x | f a); variables ($x := …, $x = …, $);
// if / else if / else, range (with $i, $e :=, else, break, continue), with / else; the
// functions of Go (and or not len index slice print printf println eq ne lt le gt ge) and of
// Docker (json join split title lower upper pad truncate). Anything else — template/define/
// block, html/js/urlquery, method calls — is an error naming it, never empty output; the one
// exception, a row's one-argument lookup (ps's `.Label "KEY"`), is a field whose value is
// {"@lookup": {…}}.
//
// Values print as Go prints the same data: maps as map[k:v …] (keys sorted), lists as
// [a b], null as <nil>, a missing map key as <no value>. A field a document (an object of
// Docker's capitalised fields) does not have is an error, as a missing struct field is in Go.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::format {

// The key under which an object given to a template may carry its own JSON form, for a Go type
// whose JSON tags differ from its field names (Docker's events.Message: templates name .Status,
// `{{json .}}` prints "status"): the `json` function prints that form, fields never see it.
inline constexpr const char* kJsonForm = "\x01json";

class Template {
 public:
  // Throws berth::Error("template: …") for a template that does not parse.
  static Template parse(std::string_view text);
  // Throws berth::Error("template: …") for an execution error (a field that is not there,
  // a function given the wrong arguments, …).
  std::string render(const nlohmann::json& data) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

// Docker's --format for a list (ps, images, network ls, …): "" or "table" (the verb's own
// table: `default_table`), "json" (one JSON object per line), "table TEMPLATE" (a header from
// `headers`, the columns split at tabs and aligned as Docker's tabwriter does) or TEMPLATE
// (one line per row).
std::string render_list(const std::string& format, const std::string& default_table,
                        const nlohmann::json& headers, const std::vector<nlohmann::json>& rows);

// Go's %v of a value (used by render, exposed for tests).
std::string go_string(const nlohmann::json& v);

}  // namespace berth::format
