#include "fuse/inode_table.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "fuse/errno_map.h"

namespace sluice::fuse {
namespace {

TEST(InodeTableTest, NumbersStayWhileReferencedAndGoAtZero) {
  InodeTable t;
  EXPECT_EQ(t.Path(kRootInode), "/");
  uint64_t a = t.Lookup("/m/a");
  EXPECT_NE(a, kRootInode);
  EXPECT_EQ(t.Lookup("/m/a"), a);  // two references
  EXPECT_EQ(t.Path(a), "/m/a");
  t.Forget(a, 1);
  EXPECT_EQ(t.Path(a), "/m/a");
  t.Forget(a, 1);
  EXPECT_EQ(t.Path(a), std::nullopt);
  EXPECT_NE(t.Lookup("/m/a"), a);  // a new number after it was forgotten
  t.Forget(kRootInode, 100);
  EXPECT_EQ(t.Path(kRootInode), "/");  // never forgotten
}

TEST(InodeTableTest, RenameMovesAPathAndEverythingBelowIt) {
  InodeTable t;
  uint64_t d = t.Lookup("/m/d");
  uint64_t f = t.Lookup("/m/d/f");
  uint64_t other = t.Lookup("/m/dx");
  t.Rename("/m/d", "/m/e");
  EXPECT_EQ(t.Path(d), "/m/e");
  EXPECT_EQ(t.Path(f), "/m/e/f");
  EXPECT_EQ(t.Path(other), "/m/dx");  // a sibling with the same prefix is not below it
  EXPECT_EQ(t.Lookup("/m/e/f"), f);
}

TEST(InodeTableTest, PeekGivesKnownOrStableNonZeroNumbersWithoutAReference) {
  InodeTable t;
  uint64_t a = t.Lookup("/m/a");
  EXPECT_EQ(t.Peek("/m/a"), a);
  uint64_t b = t.Peek("/m/b");
  EXPECT_NE(b, 0u);
  EXPECT_EQ(t.Peek("/m/b"), b);
  EXPECT_NE(t.Peek("/m/c"), b);
  EXPECT_EQ(t.Path(b), std::nullopt);  // no reference was taken
  EXPECT_EQ(t.size(), 2u);
}

TEST(InodeTableTest, ChildPaths) {
  EXPECT_EQ(ChildPath("/", "m"), "/m");
  EXPECT_EQ(ChildPath("/m", "a"), "/m/a");
}

TEST(ErrnoMapTest, MapsEveryCodeItMeans) {
  EXPECT_EQ(ErrnoOf(Status::OK()), 0);
  EXPECT_EQ(ErrnoOf(Status::NotFound("x")), ENOENT);
  EXPECT_EQ(ErrnoOf(Status::PermissionDenied("x")), EACCES);
  EXPECT_EQ(ErrnoOf(Status::FailedPrecondition("x")), ESTALE);
  EXPECT_EQ(ErrnoOf(Status::ResourceExhausted("x")), ENOSPC);
  EXPECT_EQ(ErrnoOf(Status::Unimplemented("x")), ENOTSUP);
  EXPECT_EQ(ErrnoOf(Status::DeadlineExceeded("x")), ETIMEDOUT);
  EXPECT_EQ(ErrnoOf(Status::Unavailable("x")), EIO);
}

}  // namespace
}  // namespace sluice::fuse
