#include "server/common/status.h"

#include <gtest/gtest.h>

namespace canal {
namespace {

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(s.toString(), "OK");
}

TEST(Status, CorruptionCarriesWhere) {
  Status s = Status::corruption("mysql-bin.000003:1234", "event length 7 is below the header size 19");
  EXPECT_FALSE(s.isOk());
  EXPECT_TRUE(s.isCorruption());
  EXPECT_EQ(s.where(), "mysql-bin.000003:1234");
  EXPECT_EQ(s.toString(), "Corruption: mysql-bin.000003:1234: event length 7 is below the header size 19");
}

TEST(Status, ContextAndPlace) {
  Status s = Status::corruption("f:4", "short read").withContext("TABLE_MAP");
  EXPECT_EQ(s.message(), "TABLE_MAP: short read");
  EXPECT_EQ(s.where(), "f:4");
  EXPECT_EQ(Status::ioError("disk full").at("meta.dat").where(), "meta.dat");
  EXPECT_EQ(Status::ioError("disk full", "a").at("b").where(), "a");  // first place wins
  EXPECT_TRUE(Status::ok().withContext("x").isOk());
}

Result<int> half(int v) {
  if (v % 2) return Status::invalidArgument("odd");
  return v / 2;
}

Status useHalf(int v, int* out) {
  auto r = half(v);
  CANAL_RETURN_IF_ERROR(r.status());
  *out = *r;
  return Status::ok();
}

TEST(Result, ValueOrStatus) {
  auto ok = half(8);
  ASSERT_TRUE(ok.isOk());
  EXPECT_EQ(*ok, 4);
  EXPECT_TRUE(ok.status().isOk());
  auto bad = half(3);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  int out = 0;
  EXPECT_TRUE(useHalf(6, &out).isOk());
  EXPECT_EQ(out, 3);
  EXPECT_EQ(useHalf(5, &out).message(), "odd");
}

}  // namespace
}  // namespace canal
