#include <chime/chime.hpp>

#include <string>

std::string umbrella_b_format(chime::instant t) {
    return chime::format_utc(t);
}
