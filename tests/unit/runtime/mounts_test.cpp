// The runtime's reading of a mount's options: MS_* flags, propagation, filesystem data, and
// the runtime spec's recursive attributes (MOUNT_ATTR_* for mount_setattr).
#include "runtime/mounts.hpp"

#include <sys/mount.h>

#include <gtest/gtest.h>

namespace berth::runtime {
namespace {

TEST(MountOptions, FlagsPropagationAndData) {
  MountFlags f = parse_mount_options({"rbind", "ro", "nosuid", "rslave", "nosymfollow", "size=1m", "mode=755"});
  EXPECT_TRUE(f.bind);
  EXPECT_TRUE(f.recursive);
  EXPECT_EQ(f.flags, static_cast<unsigned long>(MS_RDONLY | MS_NOSUID | MS_NOSYMFOLLOW));
  EXPECT_EQ(f.propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_EQ(f.data, "size=1m,mode=755");
  EXPECT_FALSE(f.recursive_attrs());
  f = parse_mount_options({"ro", "rw", "symfollow"});
  EXPECT_EQ(f.flags, 0ul);
  EXPECT_EQ(f.clear, static_cast<unsigned long>(MS_RDONLY | MS_NOSYMFOLLOW));
}

TEST(MountOptions, RecursiveAttributes) {
  MountFlags f = parse_mount_options({"rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnosymfollow"});
  EXPECT_EQ(f.attr_set, static_cast<uint64_t>(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                              MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOSYMFOLLOW));
  EXPECT_EQ(f.attr_clr, 0u);
  EXPECT_EQ(f.data, "");  // none of them reaches the filesystem as data
  // The opposite option undoes one; both sides never hold the same bit.
  f = parse_mount_options({"rro", "rrw", "rnoexec"});
  EXPECT_EQ(f.attr_set, static_cast<uint64_t>(MOUNT_ATTR_NOEXEC));
  EXPECT_EQ(f.attr_clr, static_cast<uint64_t>(MOUNT_ATTR_RDONLY));
  // Atime: one value for the whole field, the last option wins, the field is cleared first.
  f = parse_mount_options({"rnoatime", "rstrictatime"});
  EXPECT_EQ(f.attr_set, static_cast<uint64_t>(MOUNT_ATTR_STRICTATIME));
  EXPECT_EQ(f.attr_clr, static_cast<uint64_t>(MOUNT_ATTR__ATIME));
  f = parse_mount_options({"rnoatime", "rrelatime"});
  EXPECT_EQ(f.attr_set, 0u);  // MOUNT_ATTR_RELATIME is 0
  EXPECT_EQ(f.attr_clr, static_cast<uint64_t>(MOUNT_ATTR__ATIME));
  EXPECT_TRUE(f.recursive_attrs());
  f = parse_mount_options({"rnodiratime", "rnoatime"});
  EXPECT_EQ(f.attr_set, static_cast<uint64_t>(MOUNT_ATTR_NODIRATIME | MOUNT_ATTR_NOATIME));
}

}  // namespace
}  // namespace berth::runtime
