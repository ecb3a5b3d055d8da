#include <chime/cron_expression.hpp>
#include <catch2/catch.hpp>
