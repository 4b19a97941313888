// binary_copy_writer: PostgreSQL's binary COPY format, byte for byte, and its misuse checks.

#include "types_support.hpp"

#include <pgcoro/copy.hpp>

#include <boost/describe/enum.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <optional>
#include <string>

using pgcoro::client_errc;
using pgcoro_test::from_hex;

namespace copy_writer_test {
enum class mood { sad, happy };
BOOST_DESCRIBE_ENUM(mood, sad, happy)
} // namespace copy_writer_test

namespace {

// "PGCOPY\n\377\r\n\0", flags 0, header extension length 0.
const std::string header = from_hex("5047434f50590aff0d0a00 00000000 00000000");

template <class Body> void expect_code(Body body, client_errc expected)
{
    try {
        body();
    } catch (const pgcoro::error& e) {
        BOOST_TEST_INFO("what(): " << e.what());
        BOOST_TEST((e.code() == expected));
        return;
    }
    BOOST_FAIL("expected a pgcoro::error");
}

} // namespace

BOOST_AUTO_TEST_SUITE(copy_writer_tests)

BOOST_AUTO_TEST_CASE(new_writer_holds_the_nineteen_byte_header)
{
    pgcoro::binary_copy_writer writer;
    BOOST_TEST(header.size() == 19u);
    BOOST_TEST(writer.size() == 19u);
    BOOST_TEST(writer.rows() == 0u);
    BOOST_TEST(std::move(writer).finish() == header + from_hex("ffff"));
}

BOOST_AUTO_TEST_CASE(row_is_field_count_then_length_prefixed_binary_values)
{
    pgcoro::binary_copy_writer writer;
    writer.begin_row(4);
    writer.add(std::int32_t{1});
    writer.add(std::optional<std::string>{}); // NULL
    writer.add("ab");
    writer.add(std::int64_t{-2});
    BOOST_TEST(writer.rows() == 1u);
    const std::string expected = header + from_hex("0004"                      // four fields
                                                   "00000004 00000001"         // int4 1
                                                   "ffffffff"                  // NULL
                                                   "00000002 6162"             // text 'ab'
                                                   "00000008 fffffffffffffffe" // int8 -2
                                                   "ffff");                    // trailer
    BOOST_TEST(std::move(writer).finish() == expected);
}

BOOST_AUTO_TEST_CASE(untyped_null_and_present_optional_are_written_like_parameters)
{
    pgcoro::binary_copy_writer writer;
    writer.begin_row(3);
    writer.add(std::nullopt);
    writer.add(std::optional<std::int16_t>{7});
    writer.add(true);
    BOOST_TEST(std::move(writer).finish() ==
               header + from_hex("0003 ffffffff 00000002 0007 00000001 01 ffff"));
}

BOOST_AUTO_TEST_CASE(enum_field_is_its_label_as_enum_recv_reads_it)
{
    pgcoro::binary_copy_writer writer;
    writer.begin_row(1);
    writer.add(copy_writer_test::mood::happy);
    BOOST_TEST(std::move(writer).finish() == header + from_hex("0001 00000005 6861707079 ffff"));
}

// An enum array's parameter is a text array literal; array_recv would read it as garbage.
template <class T>
concept addable = requires(pgcoro::binary_copy_writer& writer, const T& value)
{
    writer.add(value);
};
static_assert(addable<copy_writer_test::mood>);
static_assert(addable<std::vector<std::int32_t>>);
static_assert(!addable<std::vector<copy_writer_test::mood>>, "text-format types have no binary COPY form");

BOOST_AUTO_TEST_CASE(jsonb_field_carries_the_version_byte)
{
    pgcoro::binary_copy_writer writer;
    writer.begin_row(1);
    writer.add(boost::json::value(1));
    BOOST_TEST(std::move(writer).finish() == header + from_hex("0001 00000002 01 31 ffff"));
}

BOOST_AUTO_TEST_CASE(zero_field_rows_are_allowed)
{
    pgcoro::binary_copy_writer writer;
    writer.begin_row(0);
    writer.begin_row(0);
    BOOST_TEST(writer.rows() == 2u);
    BOOST_TEST(std::move(writer).finish() == header + from_hex("0000 0000 ffff"));
}

BOOST_AUTO_TEST_CASE(more_fields_than_a_table_can_have_are_refused)
{
    pgcoro::binary_copy_writer writer;
    writer.begin_row(pgcoro::binary_copy_writer::max_fields); // 1600 is PostgreSQL's column limit
    pgcoro::binary_copy_writer other;
    expect_code([&] { other.begin_row(1601); }, client_errc::invalid_parameter);
    BOOST_TEST(other.size() == 19u);
    BOOST_TEST(other.rows() == 0u);
}

BOOST_AUTO_TEST_CASE(field_outside_a_row_is_refused)
{
    pgcoro::binary_copy_writer writer;
    expect_code([&] { writer.add(std::int32_t{1}); }, client_errc::invalid_argument);
    writer.begin_row(1);
    writer.add(std::int32_t{1});
    expect_code([&] { writer.add(std::int32_t{2}); }, client_errc::invalid_argument);
    expect_code([&] { writer.add(std::nullopt); }, client_errc::invalid_argument);
    BOOST_TEST(std::move(writer).finish() == header + from_hex("0001 00000004 00000001 ffff"));
}

BOOST_AUTO_TEST_CASE(incomplete_row_is_refused_at_the_next_row_and_at_finish)
{
    pgcoro::binary_copy_writer writer;
    writer.begin_row(2);
    writer.add(std::int32_t{1});
    expect_code([&] { writer.begin_row(1); }, client_errc::invalid_argument);
    expect_code([&] { (void)std::move(writer).finish(); }, client_errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(value_that_fails_to_encode_leaves_the_buffer_unchanged)
{
    pgcoro::binary_copy_writer writer;
    writer.begin_row(1);
    const std::size_t before = writer.size();
    // PostgreSQL text cannot hold a NUL: the codec refuses it.
    expect_code([&] { writer.add(std::string("a\0b", 3)); }, client_errc::invalid_parameter);
    BOOST_TEST(writer.size() == before);
    writer.add(std::string("ab")); // the row still wants its field
    BOOST_TEST(std::move(writer).finish() == header + from_hex("0001 00000002 6162 ffff"));
}

BOOST_AUTO_TEST_SUITE_END()
