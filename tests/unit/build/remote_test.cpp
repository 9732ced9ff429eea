// Which build contexts are remote, by Docker's rules (build/remote.hpp).
#include "build/remote.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "temp_dir.hpp"

using namespace berth;

TEST(RemoteContext, GitAndUrlAsDockerTellsThem) {
  for (const char* git : {"git://host/repo", "git@github.com:me/repo.git", "github.com/me/repo",
                          "https://host/repo.git", "http://host/a/repo.git#main:sub", "https://host/repo.git#:dir"})
    EXPECT_TRUE(build::is_git_context(git)) << git;
  for (const char* not_git : {"https://host/repo", "https://host/ctx.tar.gz", "https://host/x.git/Dockerfile",
                              "./repo.git", "/srv/repo.git", "file:///srv/repo.git", "-", "gitlab.com/me/repo"})
    EXPECT_FALSE(build::is_git_context(not_git)) << not_git;
  EXPECT_TRUE(build::is_url_context("https://host/ctx.tar.gz"));
  EXPECT_TRUE(build::is_remote_context("http://host/Dockerfile"));
  EXPECT_FALSE(build::is_remote_context("ftp://host/ctx.tar"));
  EXPECT_FALSE(build::is_remote_context("dir/http://x"));
}

TEST(RemoteContext, HostileFragmentsAreRefusedBeforeGitRuns) {
  test::TempDir dir;
  for (const char* bad : {"https://host/repo.git#--upload-pack=touch /tmp/x", "https://host/repo.git#main:../..",
                          "https://host/repo.git#main:a/../../b", "-https://host/repo.git", "https://host/a b.git"}) {
    try {
      build::make_remote_context(bad, dir.path(), "", nullptr);
      ADD_FAILURE() << bad << " was taken";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << bad << ": " << e.what();
    }
  }
}
