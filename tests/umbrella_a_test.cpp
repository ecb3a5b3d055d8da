// With umbrella_b_test.cpp: two translation units that include the umbrella
// header link into one program, so no header defines a non-inline symbol.
#include <chime/chime.hpp>

#include <catch2/catch.hpp>

std::string umbrella_b_format(chime::instant t);

TEST_CASE("umbrella header links from two translation units", "[build]") {
    auto t = chime::parse_instant("2026-01-01T00:00:00Z");
    CHECK(umbrella_b_format(t) == chime::format_utc(t));
}
