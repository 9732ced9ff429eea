// The URL Docker's search asks, and the refusals before any request (image/search.hpp).
#include "image/search.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

using namespace berth;

TEST(Search, UrlAsDockerBuildsIt) {
  image::SearchOptions o;
  EXPECT_EQ(image::search_url("busybox", o), "https://index.docker.io/v1/search?q=busybox&n=25");
  EXPECT_EQ(image::search_url("library/busybox", o), "https://index.docker.io/v1/search?q=library%2Fbusybox&n=25");
  EXPECT_EQ(image::search_url("docker.io/nginx", o), "https://index.docker.io/v1/search?q=nginx&n=25");
  EXPECT_EQ(image::search_url("localhost:5000/a/b", o), "http://localhost:5000/v1/search?q=a%2Fb&n=25");
  EXPECT_EQ(image::search_url("127.0.0.1:5000/x", o), "http://127.0.0.1:5000/v1/search?q=x&n=25");
  o.limit = 100;
  EXPECT_EQ(image::search_url("quay.io/app", o), "https://quay.io/v1/search?q=app&n=100");
}

TEST(Search, BadInputIsRefusedBeforeAnyRequest) {
  auto refused = [](const std::string& term, image::SearchOptions o) {
    try {
      image::search(term, o, [](const std::string&, int) -> int64_t { throw Error("fetched"); });
    } catch (const Error& e) {
      return e.kind() == ErrorKind::invalid_argument;
    }
    return false;
  };
  image::SearchOptions o;
  EXPECT_TRUE(refused("", o));
  EXPECT_TRUE(refused("a b", o));
  EXPECT_TRUE(refused("quay.io/", o));
  o.limit = 0;
  EXPECT_TRUE(refused("x", o));
  o.limit = 101;
  EXPECT_TRUE(refused("x", o));
  o.limit = 25;
  o.filters = {"colour=blue"};
  EXPECT_TRUE(refused("x", o));
  o.filters = {"stars=-1"};
  EXPECT_TRUE(refused("x", o));
  o.filters = {"is-official=maybe"};
  EXPECT_TRUE(refused("x", o));
  o.filters = {"stars=3", "is-official=true"};
  EXPECT_FALSE(refused("x", o));  // the fetch ran (and failed as unavailable)
}
