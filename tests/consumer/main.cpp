// Prints the next fire time of a cron trigger, to prove that a consumer
// project compiles and links against chime.
#include <chime/chime.hpp>

#include <iostream>

int main() {
    chime::cron_trigger trigger("0 12 * * MON-FRI", chime::zone::locate("UTC"));
    auto next = trigger.next_after(chime::parse_instant("2026-12-04T13:00:00Z"));
    std::cout << (next ? chime::format_utc(*next) : "none") << '\n';
    return next && chime::format_utc(*next) == "2026-12-07T12:00:00Z" ? 0 : 1;
}
