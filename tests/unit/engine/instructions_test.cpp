// Dockerfile instructions on an image config (commit --change), without running anything.
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "engine/instructions.hpp"

using namespace berth;
using namespace berth::engine;
using nlohmann::json;

TEST(Instructions, WordsQuoteAndEscapeLikeADockerfile) {
  EXPECT_EQ(instruction_words("a  \"b c\" 'd e' f\\ g"), (std::vector<std::string>{"a", "b c", "d e", "f g"}));
  EXPECT_EQ(instruction_words("K=\"v \\\"q\\\"\""), (std::vector<std::string>{"K=v \"q\""}));
  EXPECT_THROW(instruction_words("\"open"), Error);
}

TEST(Instructions, CommandsInExecAndShellForm) {
  json c = {{"Cmd", {"old"}}, {"OnBuild", nullptr}, {"Labels", nullptr}};
  apply_instruction(c, "CMD [\"echo\", \"hi there\"]");
  EXPECT_EQ(c["Cmd"], json({"echo", "hi there"}));
  apply_instruction(c, "cmd echo $HOME");
  EXPECT_EQ(c["Cmd"], json({"/bin/sh", "-c", "echo $HOME"}));
  apply_instruction(c, "ENTRYPOINT [\"/init\"]");
  EXPECT_EQ(c["Entrypoint"], json({"/init"}));
  apply_instruction(c, "ENTRYPOINT [1, 2]");  // not strings: the shell form, as Docker reads it
  EXPECT_EQ(c["Entrypoint"], json({"/bin/sh", "-c", "[1, 2]"}));
  apply_instruction(c, "ONBUILD RUN make");
  EXPECT_EQ(c["OnBuild"], json({"RUN make"}));
}

TEST(Instructions, EnvLabelExposeVolumeWorkdirUserStopsignal) {
  json c = {{"Env", {"PATH=/bin", "A=old"}}, {"WorkingDir", "/srv"}};
  apply_instruction(c, "ENV A=1 B=\"two words\"");
  EXPECT_EQ(c["Env"], json({"PATH=/bin", "A=1", "B=two words"}));
  apply_instruction(c, "ENV C the rest  of it");
  EXPECT_EQ(c["Env"].back(), "C=the rest  of it");
  apply_instruction(c, "LABEL a=b \"c d\"=e");
  EXPECT_EQ(c["Labels"], json({{"a", "b"}, {"c d", "e"}}));
  apply_instruction(c, "EXPOSE 80 53/udp 8000-8001");
  EXPECT_EQ(c["ExposedPorts"], json({{"80/tcp", json::object()}, {"53/udp", json::object()},
                                      {"8000/tcp", json::object()}, {"8001/tcp", json::object()}}));
  apply_instruction(c, "VOLUME [\"/data\", \"/logs\"]");
  apply_instruction(c, "VOLUME /cache");
  EXPECT_EQ(c["Volumes"].size(), 3u);
  apply_instruction(c, "WORKDIR app");
  EXPECT_EQ(c["WorkingDir"], "/srv/app");
  apply_instruction(c, "WORKDIR /x");
  EXPECT_EQ(c["WorkingDir"], "/x");
  apply_instruction(c, "USER 1000:1000");
  EXPECT_EQ(c["User"], "1000:1000");
  apply_instruction(c, "STOPSIGNAL SIGQUIT");
  EXPECT_EQ(c["StopSignal"], "SIGQUIT");
}

TEST(Instructions, RefusesWhatIsNotAConfigChange) {
  json c = json::object();
  for (const char* bad : {"RUN make", "FROM x", "COPY a b", "CMD", "", "ENV", "ENV =x", "LABEL novalue",
                          "EXPOSE 80:80", "EXPOSE http", "VOLUME data", "USER a b", "STOPSIGNAL SIGNOPE"})
    EXPECT_THROW(apply_instruction(c, bad), Error) << bad;
  EXPECT_EQ(c, json::object());
}

TEST(Instructions, HealthcheckAsDockersConfig) {
  json c = {{"Healthcheck", {{"Test", {"CMD", "old"}}, {"Retries", 7}}}};
  apply_instruction(c, "HEALTHCHECK --interval=5s --timeout=2s --start-period=1m --retries=3 CMD wget -q -O- localhost");
  EXPECT_EQ(c["Healthcheck"], json::parse(R"({"Test": ["CMD-SHELL", "wget -q -O- localhost"], "Interval": 5000000000,
                                            "Timeout": 2000000000, "StartPeriod": 60000000000, "Retries": 3})"));
  apply_instruction(c, "healthcheck CMD [\"true\", \"x y\"]");  // the exec form; other fields kept
  EXPECT_EQ(c["Healthcheck"]["Test"], json({"CMD", "true", "x y"}));
  EXPECT_EQ(c["Healthcheck"]["Retries"], 3);
  apply_instruction(c, "HEALTHCHECK NONE");
  EXPECT_EQ(c["Healthcheck"]["Test"], json({"NONE"}));
  const json before = c;
  for (const char* bad : {"HEALTHCHECK", "HEALTHCHECK CMD", "HEALTHCHECK NONE x", "HEALTHCHECK RUN true",
                          "HEALTHCHECK --retries=0 CMD true", "HEALTHCHECK --interval=1us CMD true",
                          "HEALTHCHECK --interval CMD true", "HEALTHCHECK --bogus=1 CMD true", "HEALTHCHECK --timeout=soon CMD true"})
    EXPECT_THROW(apply_instruction(c, bad), Error) << bad;
  EXPECT_EQ(c, before);
}
