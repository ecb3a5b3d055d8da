// Time zones for triggers: an IANA zone from the system tz database, flattened
// into a table of UTC offsets so that the hot path of a trigger is a binary
// search over integers.
//
// Thread safety: a zone is an immutable value that shares its table; copies
// may be used from any thread. locate() is thread-safe.
//
// Why a table and not date::time_zone alone: date 3.0.1 built with
// USE_OS_TZDB reads the transitions stored in the TZif file but ignores the
// POSIX TZ rule at its end. Europe/Berlin then has no summer time after 2037
// (checked with date 3.0.1+ds-5 on Debian 12). chime extends every zone with
// that rule up to the end of the year 2399, the limit of every search.
#pragma once

#include <chime/error.hpp>

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace chime {

using instant = std::chrono::sys_seconds;
using local_seconds = date::local_seconds;

// The last instant that chime searches for fire times (exclusive): zone tables
// and trigger searches end at 2400-01-01T00:00:00Z.
inline constexpr instant search_limit = date::sys_days{date::year{2400} / 1 / 1};

// A span of instants [begin, end) during which a zone's UTC offset is constant.
struct zone_segment {
    instant begin;
    instant end;
    std::chrono::seconds offset;
};

// A segment with the offsets on either side of it, so that a search can see
// the gap or overlap at each end. At an open end the neighbouring offset
// equals `offset`.
struct zone_span {
    instant begin;
    instant end;
    std::chrono::seconds offset;
    std::chrono::seconds previous_offset;
    std::chrono::seconds next_offset;
};

// The mapping of a local time onto instants in a zone.
enum class local_kind {
    unique,      // exactly one instant: `first`
    nonexistent, // skipped by a forward jump; `first` is the first instant after the jump
    ambiguous,   // repeated by a backward jump; `first` and `second` are the two instants
};

struct local_resolution {
    local_kind kind;
    instant first;
    instant second; // equal to `first` unless kind is ambiguous
};

namespace detail {

struct zone_table {
    std::string name;
    // Segment i covers [begins[i], begins[i + 1]) with offsets[i]; the last
    // segment is open-ended. Adjacent segments always differ in offset.
    std::vector<instant> begins;
    std::vector<std::chrono::seconds> offsets;
    // bucket_first[b] is the segment that contains bucket_base + b * 2^bucket_shift
    // seconds, so a lookup scans a few segments instead of searching them all.
    instant bucket_base{};
    std::vector<std::uint32_t> bucket_first;
};

std::shared_ptr<const zone_table> load_zone_table(std::string_view name);

} // namespace detail

// An IANA time zone, or UTC.
class zone {
public:
    // UTC, with no transitions.
    zone();

    // The zone named `name` ("Europe/Berlin", "UTC"). Throws zone_error naming
    // the value when the tz database has no such zone.
    static zone locate(std::string_view name);

    // The system's local zone: the TZ environment variable when it names a
    // zone (":Europe/Berlin" or "Europe/Berlin"), otherwise /etc/localtime,
    // otherwise UTC.
    static zone local();

    const std::string& name() const noexcept { return table_->name; }

    // The segment that contains `t`.
    zone_segment segment_at(instant t) const noexcept;

    // The segment that contains `t` with its neighbours' offsets.
    zone_span span_at(instant t) const noexcept;

    std::chrono::seconds offset_at(instant t) const noexcept {
        return table_->offsets[index_at(t)];
    }
    local_seconds to_local(instant t) const noexcept {
        return local_seconds{t.time_since_epoch() + offset_at(t)};
    }

    // Maps a local time onto instants; see local_kind.
    local_resolution resolve(local_seconds local) const noexcept;

    // True when the zone never changes its offset (UTC, Etc/GMT+5).
    bool is_fixed() const noexcept { return table_->begins.size() == 1; }

    // The offset of a fixed zone; for other zones, the offset before 1800.
    std::chrono::seconds fixed_offset() const noexcept { return table_->offsets.front(); }

    friend bool operator==(const zone& a, const zone& b) noexcept {
        return a.table_ == b.table_ || a.table_->name == b.table_->name;
    }

private:
    explicit zone(std::shared_ptr<const detail::zone_table> table) : table_(std::move(table)) {}

    std::size_t index_at(instant t) const noexcept;

    std::shared_ptr<const detail::zone_table> table_;
};

// ---------------------------------------------------------------------------
// Definitions

namespace detail {

// One rule of a POSIX TZ string such as "M3.5.0/3" (month, week, weekday and
// local time of day), "J60" (Julian day 1-365, no 29 February) or "59"
// (zero-based day 0-365).
struct posix_rule {
    enum class form { month_week_day, julian_1, zero_based } kind = form::month_week_day;
    int month = 0;
    int week = 0;    // 1-5, 5 meaning the last
    int weekday = 0; // 0 = Sunday
    int day = 0;
    std::chrono::seconds time{7200}; // may be negative or beyond 24 h (RFC 8536)

    // The local date and time at which the rule applies in year `y`.
    local_seconds at(int y) const {
        using namespace date;
        local_days d;
        if (kind == form::month_week_day) {
            auto m = date::month{static_cast<unsigned>(month)};
            auto first = local_days{year{y} / m / 1};
            auto wanted = date::weekday{static_cast<unsigned>(weekday)};
            d = first + (wanted - date::weekday{first}) + days{7 * (week - 1)};
            auto last_day = local_days{year{y} / m / date::last};
            while (d > last_day) {
                d -= days{7};
            }
        } else if (kind == form::julian_1) {
            // Day 60 is 1 March even in a leap year.
            int n = day;
            d = local_days{year{y} / 1 / 1} + days{n - 1};
            if (year{y}.is_leap() && n >= 60) {
                d += days{1};
            }
        } else {
            d = local_days{year{y} / 1 / 1} + days{day};
        }
        return d + time;
    }
};

struct posix_tz {
    std::chrono::seconds std_offset{0}; // east of UTC, the sign opposite to POSIX
    std::optional<std::chrono::seconds> dst_offset;
    posix_rule start, end;
};

class posix_reader {
public:
    explicit posix_reader(std::string_view text) : text_(text) {}

    std::optional<posix_tz> read() {
        posix_tz tz;
        if (!skip_name() || !read_offset(tz.std_offset)) {
            return std::nullopt;
        }
        tz.std_offset = -tz.std_offset;
        if (pos_ == text_.size()) {
            return tz;
        }
        if (!skip_name()) {
            return std::nullopt;
        }
        std::chrono::seconds dst = tz.std_offset + std::chrono::hours{1};
        if (pos_ < text_.size() && text_[pos_] != ',') {
            if (!read_offset(dst)) {
                return std::nullopt;
            }
            dst = -dst;
        }
        tz.dst_offset = dst;
        if (!expect(',') || !read_rule(tz.start) || !expect(',') || !read_rule(tz.end)) {
            return std::nullopt;
        }
        return pos_ == text_.size() ? std::optional<posix_tz>{tz} : std::nullopt;
    }

private:
    bool skip_name() {
        if (pos_ < text_.size() && text_[pos_] == '<') {
            auto close = text_.find('>', pos_);
            if (close == std::string_view::npos) {
                return false;
            }
            pos_ = close + 1;
            return true;
        }
        auto begin = pos_;
        while (pos_ < text_.size() && std::isalpha(static_cast<unsigned char>(text_[pos_]))) {
            ++pos_;
        }
        return pos_ - begin >= 3;
    }

    bool expect(char c) {
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    bool read_int(int& value) {
        auto begin = pos_;
        value = 0;
        while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
            value = value * 10 + (text_[pos_] - '0');
            ++pos_;
        }
        return pos_ > begin;
    }

    // [+-]hh[:mm[:ss]], positive west of Greenwich as POSIX has it.
    bool read_offset(std::chrono::seconds& offset) {
        int sign = 1;
        if (expect('-')) {
            sign = -1;
        } else {
            expect('+');
        }
        int h = 0, m = 0, s = 0;
        if (!read_int(h)) {
            return false;
        }
        if (expect(':')) {
            if (!read_int(m)) {
                return false;
            }
            if (expect(':') && !read_int(s)) {
                return false;
            }
        }
        offset = std::chrono::seconds{sign * (h * 3600 + m * 60 + s)};
        return true;
    }

    bool read_rule(posix_rule& rule) {
        if (expect('M')) {
            rule.kind = posix_rule::form::month_week_day;
            if (!read_int(rule.month) || !expect('.') || !read_int(rule.week) || !expect('.') ||
                !read_int(rule.weekday)) {
                return false;
            }
            if (rule.month < 1 || rule.month > 12 || rule.week < 1 || rule.week > 5 ||
                rule.weekday > 6) {
                return false;
            }
        } else if (expect('J')) {
            rule.kind = posix_rule::form::julian_1;
            if (!read_int(rule.day) || rule.day < 1 || rule.day > 365) {
                return false;
            }
        } else {
            rule.kind = posix_rule::form::zero_based;
            if (!read_int(rule.day) || rule.day > 365) {
                return false;
            }
        }
        if (expect('/')) {
            std::chrono::seconds time{0};
            if (!read_offset(time)) {
                return false;
            }
            rule.time = time;
        }
        return true;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

// The POSIX TZ string at the end of a TZif version 2+ file (RFC 8536,
// section 3.3), or nothing when the file has none.
inline std::optional<posix_tz> read_tzif_footer(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.size() < 2 || content.back() != '\n') {
        return std::nullopt;
    }
    auto start = content.rfind('\n', content.size() - 2);
    if (start == std::string::npos) {
        return std::nullopt;
    }
    auto footer = std::string_view(content).substr(start + 1, content.size() - start - 2);
    if (footer.empty()) {
        return std::nullopt;
    }
    return posix_reader(footer).read();
}

// The directory date 3.0.1 reads with USE_OS_TZDB on Debian. TZDIR is not
// honoured, because date ignores it too and the rule read here must belong
// to the transitions date read.
inline std::string tz_directory() {
    return "/usr/share/zoneinfo";
}

inline void append_segment(zone_table& table, instant begin, std::chrono::seconds offset) {
    if (!table.offsets.empty() && table.offsets.back() == offset) {
        return;
    }
    if (!table.begins.empty() && begin <= table.begins.back()) {
        // Two transitions at one instant: the later one wins.
        table.offsets.back() = offset;
        return;
    }
    table.begins.push_back(begin);
    table.offsets.push_back(offset);
}

inline std::shared_ptr<const zone_table> build_zone_table(const date::time_zone& tz) {
    using namespace std::chrono;
    auto table = std::make_shared<zone_table>();
    table->name = std::string(tz.name());

    // Transitions before 1800 are local mean time; the table starts there.
    instant t = date::sys_days{date::year{1800} / 1 / 1};
    auto first = tz.get_info(t);
    table->begins.push_back(instant::min());
    table->offsets.push_back(first.offset);
    const instant date_end = date::sys_days{date::year{32767} / 1 / 1};
    instant last_transition = t;
    while (true) {
        auto info = tz.get_info(t);
        append_segment(*table, info.begin < t ? t : info.begin, info.offset);
        if (info.end >= date_end || info.end >= search_limit) {
            break;
        }
        last_transition = info.end;
        t = info.end;
    }
    if (t >= search_limit) {
        return table;
    }

    // After its last stored transition a TZif file continues with its POSIX
    // rule. The rule is applied from the year after that transition; until
    // then the stored transitions still hold.
    auto rule = read_tzif_footer(tz_directory() + "/" + table->name);
    if (!rule || !rule->dst_offset) {
        return table;
    }
    int first_year = int(date::year_month_day{date::floor<date::days>(last_transition)}.year());
    for (int y = first_year; y < 2400; ++y) {
        // Local rule times are read with the offset in force before them.
        instant dst_begin{(rule->start.at(y) - rule->std_offset).time_since_epoch()};
        instant dst_end{(rule->end.at(y) - *rule->dst_offset).time_since_epoch()};
        std::pair<instant, seconds> changes[2] = {{dst_begin, *rule->dst_offset},
                                                  {dst_end, rule->std_offset}};
        if (dst_end < dst_begin) {
            std::swap(changes[0], changes[1]);
        }
        for (auto& [when, offset] : changes) {
            if (when > last_transition) {
                append_segment(*table, when, offset);
            }
        }
    }
    return table;
}

// About 194 days: no zone has more than a few transitions in one bucket.
inline constexpr int bucket_shift = 24;

inline void build_buckets(zone_table& table) {
    if (table.begins.size() < 2) {
        return;
    }
    table.bucket_base = table.begins[1];
    auto span = (search_limit - table.bucket_base).count();
    auto count = static_cast<std::size_t>(span >> bucket_shift) + 1;
    table.bucket_first.resize(count);
    std::uint32_t segment = 0;
    for (std::size_t b = 0; b < count; ++b) {
        instant start = table.bucket_base + std::chrono::seconds{std::int64_t(b) << bucket_shift};
        while (segment + 1 < table.begins.size() && table.begins[segment + 1] <= start) {
            ++segment;
        }
        table.bucket_first[b] = segment;
    }
}

inline std::shared_ptr<const zone_table> utc_table() {
    static const auto table = [] {
        auto t = std::make_shared<zone_table>();
        t->name = "UTC";
        t->begins.push_back(instant::min());
        t->offsets.push_back(std::chrono::seconds{0});
        return std::shared_ptr<const zone_table>(std::move(t));
    }();
    return table;
}

inline std::shared_ptr<const zone_table> load_zone_table(std::string_view name) {
    static std::mutex mutex;
    static std::map<std::string, std::shared_ptr<const zone_table>, std::less<>> cache;

    std::lock_guard lock(mutex);
    if (auto it = cache.find(name); it != cache.end()) {
        return it->second;
    }
    const date::time_zone* tz = nullptr;
    try {
        tz = date::locate_zone(name);
    } catch (const std::runtime_error&) {
        std::string hint;
        if (name.front() == '+' || name.front() == '-' || name.starts_with("UTC") ||
            name.starts_with("GMT")) {
            // The Etc/GMT names invert the sign, as POSIX TZ strings do.
            hint = "; for a fixed offset use an Etc name, such as Etc/GMT-2 for UTC+02:00";
        }
        throw zone_error(std::string(name),
                         "time zone \"" + std::string(name) +
                             "\" not found in the tz database; use an IANA name such as "
                             "\"Europe/Berlin\" or \"UTC\"" + hint);
    }
    auto table = build_zone_table(*tz);
    // The table keeps the name as requested ("US/Eastern" stays "US/Eastern").
    if (table->name != name) {
        auto renamed = std::make_shared<zone_table>(*table);
        renamed->name = std::string(name);
        table = std::move(renamed);
    }
    auto indexed = std::make_shared<zone_table>(*table);
    build_buckets(*indexed);
    table = std::move(indexed);
    cache.emplace(std::string(name), table);
    return table;
}

} // namespace detail

inline zone::zone() : table_(detail::utc_table()) {}

inline zone zone::locate(std::string_view name) {
    if (name.empty()) {
        throw zone_error("", "time zone name is empty; use an IANA name such as \"Europe/Berlin\"");
    }
    if (name == "UTC") {
        return zone();
    }
    return zone(detail::load_zone_table(name));
}

inline zone zone::local() {
    if (const char* tz = std::getenv("TZ"); tz != nullptr && *tz != '\0') {
        std::string_view name = tz;
        if (name.front() == ':') {
            name.remove_prefix(1);
        }
        try {
            return locate(name);
        } catch (const zone_error&) {
            // A POSIX TZ string such as "CET-1CEST" names no zone, so fall
            // through to /etc/localtime. The C library would apply the POSIX
            // rule instead; chime reads IANA zones only.
        }
    }
    try {
        return locate(date::current_zone()->name());
    } catch (const std::exception&) {
        return zone();
    }
}

inline std::size_t zone::index_at(instant t) const noexcept {
    const auto& begins = table_->begins;
    const auto& buckets = table_->bucket_first;
    if (!buckets.empty() && t >= table_->bucket_base && t < search_limit) {
        auto bucket = static_cast<std::size_t>((t - table_->bucket_base).count() >>
                                               detail::bucket_shift);
        if (bucket < buckets.size()) {
            std::size_t i = buckets[bucket];
            while (i + 1 < begins.size() && begins[i + 1] <= t) {
                ++i;
            }
            return i;
        }
    }
    auto it = std::upper_bound(begins.begin() + 1, begins.end(), t);
    return static_cast<std::size_t>(it - begins.begin()) - 1;
}

inline zone_segment zone::segment_at(instant t) const noexcept {
    const auto& begins = table_->begins;
    auto i = index_at(t);
    instant end = i + 1 < begins.size() ? begins[i + 1] : instant::max();
    return {begins[i], end, table_->offsets[i]};
}

inline zone_span zone::span_at(instant t) const noexcept {
    const auto& begins = table_->begins;
    const auto& offsets = table_->offsets;
    auto i = index_at(t);
    bool has_next = i + 1 < begins.size();
    return {begins[i], has_next ? begins[i + 1] : instant::max(), offsets[i],
            i > 0 ? offsets[i - 1] : offsets[i], has_next ? offsets[i + 1] : offsets[i]};
}

inline local_resolution zone::resolve(local_seconds local) const noexcept {
    using std::chrono::seconds;
    const auto& begins = table_->begins;
    const auto& offsets = table_->offsets;

    // Beyond about 36 billion years no zone has transitions, and the probes
    // below would overflow near the limits of the representation.
    constexpr seconds far{std::int64_t{1} << 60};
    if (local.time_since_epoch() > far || local.time_since_epoch() < -far) {
        auto offset = local.time_since_epoch() > far ? offsets.back() : offsets.front();
        instant only{local.time_since_epoch() - offset};
        return {local_kind::unique, only, only};
    }

    // A local time L is reached in segment i when begins[i] <= L - off[i] < begins[i+1].
    // Offsets stay within a day of UTC, so segments around L - 1 day and L + 1 day
    // are the only candidates.
    auto probe = instant{local.time_since_epoch()};
    auto lo = index_at(probe - std::chrono::hours{26});
    auto hi = index_at(probe + std::chrono::hours{26});
    std::optional<instant> found[2];
    int count = 0;
    for (auto i = lo; i <= hi && count < 2; ++i) {
        instant candidate{local.time_since_epoch() - offsets[i]};
        instant end = i + 1 < begins.size() ? begins[i + 1] : instant::max();
        if (candidate >= begins[i] && candidate < end) {
            found[count++] = candidate;
        }
    }
    if (count == 2) {
        return {local_kind::ambiguous, *found[0], *found[1]};
    }
    if (count == 1) {
        return {local_kind::unique, *found[0], *found[0]};
    }
    // In a gap: the first instant after the jump is the start of the segment
    // whose local range begins after `local`.
    for (auto i = lo; i <= hi; ++i) {
        if (i + 1 < begins.size()) {
            instant transition = begins[i + 1];
            auto local_before = transition.time_since_epoch() + offsets[i];
            auto local_after = transition.time_since_epoch() + offsets[i + 1];
            if (local.time_since_epoch() >= local_before &&
                local.time_since_epoch() < local_after) {
                return {local_kind::nonexistent, transition, transition};
            }
        }
    }
    // Unreachable for a consistent table; treat as unique in the last segment.
    instant fallback{local.time_since_epoch() - offsets[hi]};
    return {local_kind::unique, fallback, fallback};
}

} // namespace chime
