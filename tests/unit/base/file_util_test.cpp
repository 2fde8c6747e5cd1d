#include "base/file_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "base/hash.h"
#include "base/number_format.h"
#include "unit/temp_dir.h"

namespace basin {
namespace {

TEST(FileUtil, WritesAtomicallyAlsoToABareFileName) {
  test::TempDir dir;
  const std::string previous = std::filesystem::current_path().string();
  ASSERT_EQ(chdir(dir.path().c_str()), 0);
  Status written = WriteFileAtomically("port", "8080\n");
  ASSERT_EQ(chdir(previous.c_str()), 0);
  ASSERT_TRUE(written.ok()) << written.ToString();
  auto text = ReadFile(dir.path() + "/port", 100);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "8080\n");
}

TEST(FileUtil, ReadOnlyFileOpensAndReportsMissingFiles) {
  test::TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir.path() + "/a", "abc").ok());
  auto file = ReadOnlyFile::Open(dir.path() + "/a");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  char buffer[8];
  EXPECT_EQ(::read(file->fd(), buffer, sizeof buffer), 3);
  auto missing = ReadOnlyFile::Open(dir.path() + "/missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

TEST(Hash, StreamingSha256EqualsOneShot) {
  const std::string data(100'000, 'x');
  for (size_t piece : {1, 7, 4096, 100'000}) {
    Sha256Hasher hasher;
    for (size_t i = 0; i < data.size(); i += piece) {
      hasher.Update(std::string_view(data).substr(i, piece));
    }
    EXPECT_EQ(HexEncode(hasher.Finish()), HexEncode(Sha256(data))) << piece;
  }
  Sha256Hasher empty;
  EXPECT_EQ(HexEncode(empty.Finish()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(NumberFormat, GroupsThousands) {
  EXPECT_EQ(WithThousands(0), "0");
  EXPECT_EQ(WithThousands(999), "999");
  EXPECT_EQ(WithThousands(1000), "1,000");
  EXPECT_EQ(WithThousands(1234567), "1,234,567");
  EXPECT_EQ(WithThousands(-1234), "-1,234");
  EXPECT_EQ(WithThousands(INT64_MIN), "-9,223,372,036,854,775,808");
}

}  // namespace
}  // namespace basin
