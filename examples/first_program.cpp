// A first chime program: a job that runs at 02:30 every night in Berlin, and
// when it fires around the switch to summer time. On 2025-03-30 the clocks
// jump from 02:00 to 03:00, so 02:30 does not exist that night. The default
// DST policy, like cronie, runs the job once, right after the jump.
//
// Output (the same on every run, because the start instant is fixed):
//
//   2025-03-28T02:30:00+01:00
//   2025-03-29T02:30:00+01:00
//   2025-03-30T03:00:00+02:00  (02:30 does not exist; ran after the jump)
//   2025-03-31T02:30:00+02:00
//   2025-04-01T02:30:00+02:00
#include <chime/chime.hpp>

#include <iostream>

int main() {
    const chime::cron_trigger nightly("30 2 * * *", chime::zone::locate("Europe/Berlin"));

    chime::instant after = chime::parse_instant("2025-03-28T00:00:00Z");
    for (int i = 0; i < 5; ++i) {
        auto fire = nightly.next_fire_after(after);
        if (!fire) {
            break;
        }
        std::cout << chime::format_instant(fire->at, nightly.time_zone());
        if (auto reason = chime::explain(*fire); !reason.empty()) {
            std::cout << "  (" << reason << ")";
        }
        std::cout << '\n';
        after = fire->at;
    }
}
