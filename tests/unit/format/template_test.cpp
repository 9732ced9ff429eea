// Go text/template semantics, case by case: each expectation is what `docker inspect -f` /
// Go's text/template prints for the same data.
#include "format/template.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

using berth::format::Template;
using nlohmann::json;

namespace {

const json kCtr = json::parse(R"({
  "Id": "4a86e009c228",
  "Name": "/web",
  "State": {"Status": "running", "ExitCode": 0, "Running": true, "Pid": 4242, "Health": null},
  "Config": {"Labels": {"com.example.tier": "front", "owner": "ops"}, "Env": ["A=1", "B=2"],
             "Cmd": ["sleep", "1000"], "Cpus": 0.5, "Big": 1000000.0},
  "Mounts": [{"Type": "volume", "Name": "data", "Source": "/var/lib/berth/volumes/data", "Destination": "/data"},
             {"Type": "bind", "Source": "/etc", "Destination": "/host-etc"}],
  "NetworkSettings": {"Networks": {"berth": {"IPAddress": "10.88.0.2"}, "back": {"IPAddress": "10.89.0.7"}}}
})");

std::string render(const std::string& t, const json& data = kCtr) { return Template::parse(t).render(data); }

std::string error_of(const std::string& t, const json& data = kCtr) {
  try {
    render(t, data);
  } catch (const berth::Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Template, FieldsAndText) {
  EXPECT_EQ(render("{{.State.Status}}"), "running");
  EXPECT_EQ(render("{{.State.Status}} {{.State.ExitCode}}"), "running 0");
  EXPECT_EQ(render("pid={{.State.Pid}}, running={{.State.Running}}!"), "pid=4242, running=true!");
  EXPECT_EQ(render("{{ .Name }}"), "/web");
  EXPECT_EQ(render("plain text"), "plain text");
  EXPECT_EQ(render(""), "");
}

TEST(Template, ValuesPrintAsGoPrintsThem) {
  EXPECT_EQ(render("{{.Config.Env}}"), "[A=1 B=2]");
  EXPECT_EQ(render("{{.Config.Labels}}"), "map[com.example.tier:front owner:ops]");
  EXPECT_EQ(render("{{.State.Health}}"), "<nil>");
  EXPECT_EQ(render("{{.Config.Cpus}}"), "0.5");
  EXPECT_EQ(render("{{.Config.Big}}"), "1e+06");
  EXPECT_EQ(render("{{.Config.Labels.missing}}"), "<no value>");
  EXPECT_EQ(render("{{1.5}} {{-3}} {{0x10}} {{true}} {{nil}}"), "1.5 -3 16 true <nil>");
  EXPECT_EQ(berth::format::go_string(json(123456.0)), "123456");
  EXPECT_EQ(berth::format::go_string(json(0.0001)), "0.0001");
  EXPECT_EQ(berth::format::go_string(json(0.00001)), "1e-05");
  EXPECT_EQ(berth::format::go_string(json(1234567.0)), "1.234567e+06");
}

TEST(Template, JsonJoinIndexAndDockerFunctions) {
  EXPECT_EQ(render("{{json .Config.Env}}"), R"(["A=1","B=2"])");
  EXPECT_EQ(render("{{json .State.Health}}"), "null");
  EXPECT_EQ(render("{{json .Config.Labels.missing}}"), "null");
  EXPECT_EQ(render(R"({{join .Config.Cmd " "}})"), "sleep 1000");
  EXPECT_EQ(render(R"({{index .Config.Labels "owner"}})"), "ops");
  EXPECT_EQ(render(R"({{index .Config.Labels "absent"}})"), "");  // zero value of a string map
  EXPECT_EQ(render("{{(index .Mounts 1).Source}}"), "/etc");
  EXPECT_EQ(render("{{index .Config.Env 0}}"), "A=1");
  EXPECT_EQ(render("{{lower .State.Status | upper}}"), "RUNNING");
  EXPECT_EQ(render(R"({{title "hello big world"}})"), "Hello Big World");
  EXPECT_EQ(render(R"({{split "a:b:c" ":"}})"), "[a b c]");
  EXPECT_EQ(render(R"({{pad "x" 2 1}}|)"), "  x |");
  EXPECT_EQ(render(R"({{truncate .Id 4}})"), "4a86");
  EXPECT_EQ(render("{{len .Mounts}} {{len .Name}} {{len .Config.Labels}}"), "2 4 2");
  EXPECT_EQ(render(R"({{slice .Id 0 3}} {{slice .Config.Env 1}})"), "4a8 [B=2]");
}

TEST(Template, AnObjectsOwnJsonFormIsWhatJsonPrints) {
  // A Go type whose JSON tags are not its field names (Docker's events.Message).
  nlohmann::json msg = {{"Status", "start"}, {"Type", "container"}};
  msg[berth::format::kJsonForm] = {{"status", "start"}, {"Type", "container"}};
  auto t = [&](const char* text) { return Template::parse(text).render(msg); };
  EXPECT_EQ(t("{{.Status}} {{.Type}}"), "start container");
  EXPECT_EQ(t("{{json .}}"), R"({"Type":"container","status":"start"})");
  EXPECT_EQ(t("{{.}}"), "map[Status:start Type:container]");
}

TEST(Template, PrintAndPrintf) {
  EXPECT_EQ(render(R"({{printf "%s:%d" .Name .State.Pid}})"), "/web:4242");
  EXPECT_EQ(render(R"({{printf "%-6s|%5d|%05d|%.2f|%q|%v|%t|%x" "ab" 42 42 3.14159 "q\"" .Config.Env true 255}})"),
            "ab    |   42|00042|3.14|\"q\\\"\"|[A=1 B=2]|true|ff");
  EXPECT_EQ(render(R"({{printf "%d%%"  50}})"), "50%");
  EXPECT_EQ(render(R"({{printf "%s"}})"), "%!s(MISSING)");
  EXPECT_EQ(render(R"({{print "a" 1 2 "b"}})"), "a1 2b");
  EXPECT_EQ(render(R"({{println "a" 1}})"), "a 1\n");
  EXPECT_EQ(render(R"({{.State.Pid | printf "pid %d"}})"), "pid 4242");
  // A number that is no int64 is Go's bad verb, not a conversion out of range (fuzzer's find).
  EXPECT_EQ(render(R"({{printf "%d" 22222222222222222222222222222222}})").rfind("%!d(", 0), 0u);
  EXPECT_EQ(render(R"({{printf "%d" 1.5}})").rfind("%!d(", 0), 0u);
  EXPECT_EQ(render(R"({{printf "%d" 3.0}})"), "3");
  EXPECT_THROW(render(R"({{index .Config.Env 1e300}})"), std::exception);
}

TEST(Template, Conditionals) {
  EXPECT_EQ(render(R"({{if .State.Running}}up{{else}}down{{end}})"), "up");
  EXPECT_EQ(render(R"({{if eq .State.Status "exited"}}x{{else if eq .State.Status "running"}}r{{else}}?{{end}})"), "r");
  EXPECT_EQ(render(R"({{if .State.Health}}h{{else}}no health{{end}})"), "no health");
  EXPECT_EQ(render(R"({{if and .State .State.Health}}{{.State.Health.Status}}{{end}}.)"), ".");  // and stops early
  EXPECT_EQ(render(R"({{if or .State.Health .Name}}y{{end}})"), "y");
  EXPECT_EQ(render(R"({{if not .State.ExitCode}}zero{{end}})"), "zero");
  EXPECT_EQ(render(R"({{if ne .State.Pid 1}}a{{end}}{{if lt 1 2}}b{{end}}{{if ge "b" "a"}}c{{end}}{{if eq 1 2 3 1}}d{{end}})"), "abcd");
  EXPECT_EQ(render(R"({{with .State}}{{.Status}}{{end}})"), "running");
  EXPECT_EQ(render(R"({{with .State.Health}}{{.Status}}{{else}}none{{end}})"), "none");
}

TEST(Template, RangeVariablesAndTrim) {
  EXPECT_EQ(render("{{range .Mounts}}{{.Destination}} {{end}}"), "/data /host-etc ");
  EXPECT_EQ(render("{{range $i, $m := .Mounts}}{{$i}}={{$m.Type}};{{end}}"), "0=volume;1=bind;");
  EXPECT_EQ(render("{{range $k, $v := .NetworkSettings.Networks}}{{$k}}:{{$v.IPAddress}} {{end}}"),
            "back:10.89.0.7 berth:10.88.0.2 ");  // map keys in order, as Go sorts them
  EXPECT_EQ(render("{{range .Config.Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}},{{end}}"), "A=1,");
  EXPECT_EQ(render("{{range .Config.Env}}{{if eq . \"A=1\"}}{{continue}}{{end}}{{.}}{{end}}"), "B=2");
  EXPECT_EQ(render("{{range .State.Health}}x{{else}}empty{{end}}"), "empty");
  EXPECT_EQ(render("{{$n := .Name}}{{range .Mounts}}{{$n}}{{end}}"), "/web/web");
  EXPECT_EQ(render("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}"), "2");
  EXPECT_EQ(render("{{range .Mounts}}{{$.Name}}{{end}}"), "/web/web");
  EXPECT_EQ(render("a  {{- .Name -}}  b"), "a/webb");
  EXPECT_EQ(render("{{/* a comment }} */}}x{{- /* trimmed */ -}}  y"), "xy");
  EXPECT_EQ(render(R"({{"}}"}})"), "}}");
}

TEST(Template, ErrorsAreLoudAndName) {
  EXPECT_NE(error_of("{{.Nope}}").find("can't evaluate field Nope"), std::string::npos);
  EXPECT_NE(error_of("{{.State.Health.Status}}").find("nil pointer evaluating .Status"), std::string::npos);
  EXPECT_NE(error_of("{{.Name.X}}").find("can't evaluate field X in type string"), std::string::npos);
  EXPECT_NE(error_of("{{nosuch .Name}}").find("function \"nosuch\" not defined"), std::string::npos);
  EXPECT_NE(error_of("{{html .Name}}").find("not supported"), std::string::npos);
  EXPECT_NE(error_of("{{template \"x\"}}").find("not supported"), std::string::npos);
  EXPECT_NE(error_of("{{if .Name}}x").find("without {{end}}"), std::string::npos);
  EXPECT_NE(error_of("{{end}}").find("unexpected {{end}}"), std::string::npos);
  EXPECT_NE(error_of("{{.Name").find("unclosed action"), std::string::npos);
  EXPECT_NE(error_of("{{}}").find("missing value"), std::string::npos);
  EXPECT_NE(error_of("{{break}}").find("outside {{range}}"), std::string::npos);
  EXPECT_NE(error_of("{{$u}}").find("undefined variable: $u"), std::string::npos);
  EXPECT_NE(error_of("{{index .Mounts 5}}").find("index out of range: 5"), std::string::npos);
  EXPECT_NE(error_of("{{.Name 1}}").find("can't give argument to non-function"), std::string::npos);
  EXPECT_NE(error_of("{{\"a\" | .Name}}").find("can't give argument"), std::string::npos);
  EXPECT_NE(error_of("{{range .Name}}{{end}}").find("range can't iterate over /web"), std::string::npos);
  EXPECT_NE(error_of("{{lt .Name 1}}").find("invalid type for comparison"), std::string::npos);
  EXPECT_NE(error_of("{{\"unterminated}}").find("unclosed action"), std::string::npos);
  EXPECT_NE(error_of("{{\"bad \\q\"}}").find("unknown escape"), std::string::npos);
  EXPECT_EQ(error_of("{{.Config.Labels.missing}}"), "no error");  // a map: <no value>, as Go
}

TEST(RenderList, TableJsonAndTemplateRows) {
  const json headers = {{"ID", "CONTAINER ID"}, {"Names", "NAMES"}, {"Status", "STATUS"}};
  const std::vector<json> rows = {{{"ID", "abc"}, {"Names", "web"}, {"Status", "Up 2 seconds"}},
                                  {{"ID", "defdefdefdefdef"}, {"Names", "db"}, {"Status", "Exited (0)"}}};
  EXPECT_EQ(berth::format::render_list("{{.Names}}", "", headers, rows), "web\ndb\n");
  EXPECT_EQ(berth::format::render_list("table {{.ID}}\t{{.Names}}\t{{.Status}}", "", headers, rows),
            "CONTAINER ID      NAMES     STATUS\n"
            "abc               web       Up 2 seconds\n"
            "defdefdefdefdef   db        Exited (0)\n");
  EXPECT_EQ(berth::format::render_list("json", "", headers, rows).substr(0, 14), "{\"ID\":\"abc\",\"N");
  EXPECT_EQ(berth::format::render_list("", "{{.Names}}", headers, rows), "NAMES\nweb\ndb\n");
  // A shell's two characters \t and \n, as Docker's CLI takes them.
  EXPECT_EQ(berth::format::render_list("table {{.Names}}\\t{{.Status}}", "", headers, rows),
            "NAMES     STATUS\nweb       Up 2 seconds\ndb        Exited (0)\n");
  EXPECT_EQ(berth::format::render_list(" {{.Names}}\\n", "", headers, rows), "web\n\ndb\n\n");
}

}  // namespace

namespace {

TEST(Template, OneArgumentLookupOfListRows) {
  // ps's `.Label "KEY"`: a row field {"@lookup": {...}}; its table header {"@header": true}.
  const json row = {{"Names", "web"}, {"Label", {{"@lookup", {{"com.example.tier", "front"}}}}}};
  EXPECT_EQ(render(R"({{.Label "com.example.tier"}})", row), "front");
  EXPECT_EQ(render(R"({{.Label "missing"}})", row), "");
  EXPECT_EQ(render(R"({{.Label "com.example.tier" | upper}})", row), "FRONT");
  const json header = {{"Names", "NAMES"}, {"Label", {{"@header", true}}}};
  EXPECT_EQ(render(R"({{.Names}} {{.Label "com.example.tier"}})", header), "NAMES TIER");
  // Anything else with an argument is still Go's error.
  EXPECT_NE(error_of(R"({{.Names "x"}})", row).find("can't give argument to non-function"), std::string::npos);
  EXPECT_NE(error_of(R"({{.Label 3}})", row).find("must be a string"), std::string::npos);
}

}  // namespace
