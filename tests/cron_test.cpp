#include <chime/cron.hpp>
#include <catch2/catch.hpp>
