#include "oci/reference.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

using berth::oci::Reference;

TEST(Reference, NormalizesLikeDocker) {
  auto r = Reference::parse("busybox");
  EXPECT_EQ(r.registry, "docker.io");
  EXPECT_EQ(r.repository, "library/busybox");
  EXPECT_EQ(r.tag, "latest");
  EXPECT_EQ(r.str(), "docker.io/library/busybox:latest");
  EXPECT_EQ(r.familiar(), "busybox:latest");

  r = Reference::parse("user/app:1.2");
  EXPECT_EQ(r.str(), "docker.io/user/app:1.2");
  EXPECT_EQ(r.familiar(), "user/app:1.2");

  r = Reference::parse("127.0.0.1:5000/test/img:v1");
  EXPECT_EQ(r.registry, "127.0.0.1:5000");
  EXPECT_EQ(r.repository, "test/img");
  EXPECT_EQ(r.tag, "v1");
  EXPECT_EQ(r.familiar(), "127.0.0.1:5000/test/img:v1");

  r = Reference::parse("localhost/img");
  EXPECT_EQ(r.registry, "localhost");
  EXPECT_EQ(r.repository, "img");

  const std::string d = "sha256:" + std::string(64, 'a');
  r = Reference::parse("quay.io/a/b@" + d);
  EXPECT_EQ(r.tag, "");
  EXPECT_EQ(r.digest, d);
  EXPECT_EQ(r.str(), "quay.io/a/b@" + d);
  r = Reference::parse("a:t@" + d);
  EXPECT_EQ(r.tag, "t");
  EXPECT_EQ(r.digest, d);
  EXPECT_EQ(Reference::parse("index.docker.io/library/x").registry, "docker.io");
  EXPECT_EQ(Reference::parse("docker.io/a__b.c-d--e/f").repository, "a__b.c-d--e/f");
  // A first component with a dot is a registry, as in Docker.
  EXPECT_EQ(Reference::parse("example.com/f").registry, "example.com");
}

TEST(Reference, RejectsWhatDockerRejects) {
  for (const char* bad : {"", "UPPER", "a/B", "a:", ":tag", "a//b", "a/", "/a", "a@sha256:abc",
                          "a@md5:" "0123456789abcdef0123456789abcdef", "a:-tag", "a..b", "a___b",
                          "-a", "a-", "host:port:x/y", "a b", "a:tag:tag2",
                          // a host of empty or dotted-only components (it resolved ".." once)
                          "../y", "./y", "..:5000/x", "a..b.com/x", ".a.com/x", "a.com./x", "-a.com/x",
                          "a-.com/x", "a_b.com/x"}) {
    EXPECT_FALSE(Reference::valid(bad)) << bad;
  }
  EXPECT_THROW(Reference::parse("Bad"), berth::Error);
  try {
    (void)Reference::parse("a/B");
    FAIL();
  } catch (const berth::Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid reference `a/B`: invalid path component `B`"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(Reference::valid(std::string(300, 'a')));
}
