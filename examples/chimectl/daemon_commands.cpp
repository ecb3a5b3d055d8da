#include "daemon_commands.hpp"

#include "next_command.hpp"

#include <chime/crontab.hpp>
#include <chime/iso8601.hpp>
#include <chime/zmq/protocol.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace chimectl {
namespace {

using nlohmann::json;

// A mistake in the command line or in a file chimectl reads: exit status 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// chimed could not be reached or failed: exit status 1.
class daemon_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An error reply: exit status 2 for the caller's mistakes, 1 otherwise.
class reply_error : public std::runtime_error {
public:
    reply_error(std::string code, const std::string& message)
        : std::runtime_error(message), code(std::move(code)) {}
    std::string code;
};

struct option_spec {
    std::string_view name;
    bool takes_value;
    bool repeatable = false;
};

// Options every daemon command accepts.
constexpr option_spec connection_options[] = {
    {"--socket", true}, {"--db", true}, {"--wait", true}, {"--server-key", true},
    {"--client-key", true}, {"--json", false}, {"-h", false}, {"--help", false}};

// Options of add and edit.
constexpr option_spec job_options[] = {
    {"--name", true},          {"--cron", true},         {"--every", true},
    {"--at", true},            {"--trigger", true},      {"--tz", true},
    {"--dst", true},           {"--paused", false},      {"--timeout", true},
    {"--retries", true},       {"--retry-delay", true},  {"--overlap", true},
    {"--max-instances", true}, {"--misfire-grace", true}, {"--coalesce", true},
    {"--catch-up", true},      {"--on-interrupted", true}, {"--keep", true},
    {"--output-cap", true},    {"--cwd", true},          {"--env", true, true},
    {"--kill-grace", true},    {"--user", true},         {"--shell", true},
    {"--mail-to", true, true}, {"--mail-when", true},    {"--mail-server", true},
    {"--mail-from", true},     {"--webhook", true},      {"--webhook-when", true},
    {"--log", false},          {"--no-history", false},  {"--sinks", true}};

struct parsed_args {
    std::map<std::string, std::vector<std::string>> options;
    std::vector<std::string> positional;
    std::vector<std::string> command; // after "--"
    bool has_dashdash = false;

    bool has(std::string_view name) const { return options.contains(std::string(name)); }
    std::optional<std::string> get(std::string_view name) const {
        auto it = options.find(std::string(name));
        if (it == options.end() || it->second.empty()) {
            return std::nullopt;
        }
        return it->second.back();
    }
    std::vector<std::string> all(std::string_view name) const {
        auto it = options.find(std::string(name));
        return it == options.end() ? std::vector<std::string>{} : it->second;
    }
};

parsed_args parse_args(std::string_view command, std::span<const std::string_view> args,
                       std::span<const option_spec> extra) {
    parsed_args parsed;
    auto find = [&](std::string_view name) -> const option_spec* {
        for (const auto& o : connection_options) {
            if (o.name == name) return &o;
        }
        for (const auto& o : extra) {
            if (o.name == name) return &o;
        }
        return nullptr;
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        auto arg = args[i];
        if (arg == "--") {
            parsed.has_dashdash = true;
            for (++i; i < args.size(); ++i) {
                parsed.command.emplace_back(args[i]);
            }
            break;
        }
        if (arg.size() > 1 && arg[0] == '-') {
            std::string name(arg);
            std::optional<std::string> inline_value;
            if (auto eq = name.find('='); eq != std::string::npos && name.starts_with("--")) {
                inline_value = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
            const auto* spec = find(name);
            if (!spec) {
                throw usage_error(std::string(command) + ": unknown option \"" + name +
                                  "\"; see chimectl --help");
            }
            auto& values = parsed.options[name];
            if (!values.empty() && !spec->repeatable) {
                throw usage_error(std::string(command) + ": " + name + " is given twice");
            }
            if (spec->takes_value) {
                if (inline_value) {
                    values.push_back(*inline_value);
                } else if (i + 1 < args.size()) {
                    values.emplace_back(args[++i]);
                } else {
                    throw usage_error(std::string(command) + ": " + name + " needs a value");
                }
            } else {
                if (inline_value) {
                    throw usage_error(std::string(command) + ": " + name + " takes no value");
                }
                values.emplace_back("");
            }
            continue;
        }
        parsed.positional.emplace_back(arg);
    }
    return parsed;
}

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

// ISO 8601 ("PT30S") or the short forms 30s, 5m, 2h, 1d; returns ISO 8601.
std::string iso_duration(const std::string& text, std::string_view option) {
    std::chrono::seconds d{};
    if (!text.empty() && (text[0] == 'P' || text[0] == 'p')) {
        try {
            d = chime::parse_elapsed_duration(text);
        } catch (const chime::invalid_input& e) {
            throw usage_error(std::string(option) + ": " + e.what());
        }
    } else {
        std::uint64_t n = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        std::string unit(end, text.data() + text.size());
        std::uint64_t scale = unit == "s"   ? 1
                              : unit == "m" ? 60
                              : unit == "h" ? 3600
                              : unit == "d" ? 86400
                                            : 0;
        if (ec != std::errc() || end == text.data() || scale == 0 || n > 100'000'000) {
            throw usage_error(std::string(option) + ": " + in_quotes(text) +
                              " is not a duration; use ISO 8601 (PT30S) or 30s, 5m, 2h, 1d");
        }
        d = std::chrono::seconds{n * scale};
    }
    return chime::format_duration(d);
}

std::uint64_t whole_number(const std::string& text, std::string_view option, std::uint64_t max) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n > max) {
        throw usage_error(std::string(option) + ": " + in_quotes(text) +
                          " must be a whole number from 0 to " + std::to_string(max));
    }
    return n;
}

json parse_json_text(const std::string& text, std::string_view what) {
    auto j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        throw usage_error(std::string(what) + ": " + in_quotes(text.substr(0, 80)) + " is not valid JSON");
    }
    return j;
}

std::string read_file(const std::string& path, std::string_view what) {
    if (path == "-") {
        std::ostringstream s;
        s << std::cin.rdbuf();
        return s.str();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw usage_error(std::string(what) + ": cannot read " + in_quotes(path));
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// --- connection --------------------------------------------------------------

struct connection {
    std::string endpoint;
    std::chrono::milliseconds wait{5000};
    chime::curve_options curve;
};

connection connection_of(const parsed_args& a) {
    connection c;
    if (auto s = a.get("--socket")) {
        c.endpoint = *s;
    } else if (auto db = a.get("--db")) {
        std::filesystem::path p(*db);
        c.endpoint = "ipc://" + (p.parent_path() / (p.stem().string() + ".control")).string();
    } else if (const char* env = std::getenv("CHIME_SOCKET"); env && *env) {
        c.endpoint = env;
    } else {
        c.endpoint = "ipc://chime.control";
    }
    if (auto w = a.get("--wait")) {
        c.wait = chime::parse_elapsed_duration(iso_duration(*w, "--wait"));
    }
    if (auto k = a.get("--server-key")) c.curve.server_public_key_file = *k;
    if (auto k = a.get("--client-key")) c.curve.client_secret_key_file = *k;
    return c;
}

// Sends one request and returns the result, or throws: daemon_error when no
// reply comes, reply_error for an error reply.
json call(const connection& c, json request) {
    if (c.endpoint.starts_with("ipc://")) {
        auto path = c.endpoint.substr(6);
        if (!std::filesystem::exists(path)) {
            throw daemon_error("chimed is not running: there is no control socket " + path +
                               "; start it with `chimed` in the directory that holds chime.db "
                               "(or pass --socket ENDPOINT or --db PATH)");
        }
    }
    std::optional<json> reply;
    try {
        chime::control_client client(c.endpoint, c.curve);
        reply = client.request(std::move(request), c.wait);
    } catch (const chime::invalid_input& e) {
        throw usage_error(e.what());
    } catch (const zmq::error_t& e) {
        throw daemon_error("cannot connect to " + c.endpoint + ": " + e.what());
    }
    if (!reply) {
        throw daemon_error("chimed did not reply on " + c.endpoint + " within " +
                           std::to_string(c.wait.count()) +
                           " ms; is it running? Start it with `chimed` in the directory that "
                           "holds chime.db");
    }
    if (!reply->is_object() || !reply->contains("ok")) {
        throw daemon_error("chimed sent a reply of an unknown shape: " + reply->dump().substr(0, 200));
    }
    if ((*reply)["ok"] != true) {
        const auto& e = (*reply)["error"];
        throw reply_error(e.value("code", "internal"), e.value("message", "unknown error"));
    }
    return (*reply)["result"];
}

// --- jobs from options --------------------------------------------------------

std::optional<json> trigger_of(const parsed_args& a) {
    int given = a.has("--cron") + a.has("--every") + a.has("--at") + a.has("--trigger");
    if (given > 1) {
        throw usage_error("give one of --cron, --every, --at or --trigger, not several");
    }
    json t;
    if (auto v = a.get("--cron")) {
        t = {{"kind", "cron"}, {"expr", *v}};
        if (auto dst = a.get("--dst")) t["dst"] = *dst;
    } else if (auto v = a.get("--every")) {
        t = {{"kind", "interval"}, {"every", iso_duration(*v, "--every")}};
    } else if (auto v = a.get("--at")) {
        t = {{"kind", "at"}, {"at", *v}};
        if (auto dst = a.get("--dst")) t["dst"] = *dst;
    } else if (auto v = a.get("--trigger")) {
        t = parse_json_text(*v, "--trigger");
    } else {
        if (a.has("--tz") || a.has("--dst")) {
            throw usage_error("--tz and --dst need a schedule: --cron, --every or --at");
        }
        return std::nullopt;
    }
    if (auto tz = a.get("--tz")) {
        t["tz"] = *tz;
    }
    return t;
}

// The task settings the options change, merged into `task`.
bool apply_task_options(const parsed_args& a, json& task) {
    bool changed = false;
    if (a.has("--shell") && a.has_dashdash) {
        throw usage_error("give the command either after -- or with --shell, not both");
    }
    if (auto line = a.get("--shell")) {
        task.erase("argv");
        task["command"] = *line;
        changed = true;
    } else if (a.has_dashdash) {
        if (a.command.empty()) {
            throw usage_error("nothing follows --; give the command and its arguments");
        }
        task.erase("command");
        task.erase("shell");
        task["argv"] = a.command;
        changed = true;
    }
    if (auto cwd = a.get("--cwd")) {
        task["cwd"] = *cwd;
        changed = true;
    }
    if (auto user = a.get("--user")) {
        task["user"] = *user;
        changed = true;
    }
    if (auto grace = a.get("--kill-grace")) {
        task["kill_grace"] = iso_duration(*grace, "--kill-grace");
        changed = true;
    }
    for (const auto& kv : a.all("--env")) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw usage_error("--env: " + in_quotes(kv) + " must be NAME=VALUE");
        }
        task["env"][kv.substr(0, eq)] = kv.substr(eq + 1);
        changed = true;
    }
    return changed;
}

bool apply_policy_options(const parsed_args& a, json& policy) {
    bool changed = false;
    auto set = [&](const char* option, const char* key, auto convert) {
        if (auto v = a.get(option)) {
            policy[key] = convert(*v, option);
            changed = true;
        }
    };
    auto text = [](const std::string& v, std::string_view) { return json(v); };
    auto duration = [](const std::string& v, std::string_view o) {
        return json(v == "none" ? v : iso_duration(v, o));
    };
    set("--timeout", "timeout", duration);
    set("--misfire-grace", "misfire_grace", duration);
    set("--overlap", "overlap", text);
    set("--coalesce", "coalesce", text);
    set("--catch-up", "catch_up", text);
    if (auto v = a.get("--max-instances")) {
        policy["max_instances"] = whole_number(*v, "--max-instances", 1000);
        changed = true;
    }
    if (auto v = a.get("--retries")) {
        policy["retry"]["count"] = whole_number(*v, "--retries", 1000);
        changed = true;
    }
    if (auto v = a.get("--retry-delay")) {
        policy["retry"]["initial_delay"] = iso_duration(*v, "--retry-delay");
        changed = true;
    }
    return changed;
}

// Rebuilds the sink list from the sink options; false when none was given.
bool apply_sink_options(const parsed_args& a, json& sinks) {
    bool any = a.has("--mail-to") || a.has("--webhook") || a.has("--log") || a.has("--keep") ||
               a.has("--no-history") || a.has("--sinks");
    if (!any) {
        if (a.has("--mail-when") || a.has("--mail-server") || a.has("--mail-from")) {
            throw usage_error("--mail-when, --mail-server and --mail-from need --mail-to");
        }
        if (a.has("--webhook-when")) {
            throw usage_error("--webhook-when needs --webhook");
        }
        return false;
    }
    if (auto v = a.get("--sinks")) {
        sinks = parse_json_text(*v, "--sinks");
        return true;
    }
    json next = json::array();
    if (!a.has("--no-history")) {
        json h = {{"kind", "history"}};
        for (const auto& s : sinks) {
            if (s.value("kind", "") == "history") h = s; // keep the old retention
        }
        if (auto keep = a.get("--keep")) {
            h["keep_last"] = whole_number(*keep, "--keep", 1'000'000'000);
        }
        next.push_back(h);
    } else if (a.has("--keep")) {
        throw usage_error("--keep and --no-history contradict each other");
    }
    if (a.has("--mail-to")) {
        json m = {{"kind", "mail"}, {"to", a.all("--mail-to")}, {"when", a.get("--mail-when").value_or("on_failure")}};
        if (auto s = a.get("--mail-server")) m["server"] = *s;
        if (auto f = a.get("--mail-from")) m["from"] = *f;
        next.push_back(m);
    }
    if (auto url = a.get("--webhook")) {
        next.push_back({{"kind", "webhook"}, {"url", *url}, {"when", a.get("--webhook-when").value_or("always")}});
    }
    if (a.has("--log")) {
        next.push_back({{"kind", "log"}});
    }
    if (!a.has("--mail-to") && !a.has("--webhook") && !a.has("--log")) {
        // Only retention changed: keep the other sinks.
        for (const auto& s : sinks) {
            if (s.value("kind", "") != "history") next.push_back(s);
        }
    }
    sinks = next;
    return true;
}

void apply_common(const parsed_args& a, json& job) {
    if (a.has("--paused")) job["paused"] = true;
    if (auto v = a.get("--on-interrupted")) job["on_interrupted"] = *v;
    if (auto v = a.get("--output-cap")) job["output_cap"] = whole_number(*v, "--output-cap", 64ull << 20);
}

// --- output -------------------------------------------------------------------

std::string schedule_text(const json& trigger) {
    auto kind = trigger.value("kind", "");
    std::string tz = trigger.contains("tz") && trigger["tz"].is_string() && trigger["tz"] != "UTC"
                         ? " (" + trigger["tz"].get<std::string>() + ")"
                         : "";
    if (kind == "cron") return trigger.value("expr", "?") + tz;
    if (kind == "interval") return "every " + trigger.value("every", "?");
    if (kind == "at") return "at " + trigger.value("at", "?");
    return kind;
}

std::string text_or(const json& j, const char* key, std::string fallback = "-") {
    if (j.contains(key) && j[key].is_string()) return j[key].get<std::string>();
    return fallback;
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t i = 0; i < row.size(); ++i) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    }
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
        }
        out << line << '\n';
    }
}

std::string last_status(const json& job) {
    if (job.contains("error")) return "cannot run: " + job["error"].get<std::string>();
    if (job["last_run"].is_object()) return text_or(job["last_run"], "status");
    return "-";
}

void print_job(std::ostream& out, const json& job) {
    out << "name:         " << job["name"].get<std::string>() << '\n'
        << "schedule:     " << schedule_text(job["trigger"]) << '\n'
        << "trigger:      " << job["trigger"].dump() << '\n'
        << "task:         " << job["task"].dump() << '\n'
        << "sinks:        " << job["sinks"].dump() << '\n'
        << "policy:       " << job["policy"].dump() << '\n'
        << "paused:       " << (job["paused"] == true ? "yes" : "no") << '\n'
        << "next run:     " << text_or(job, "next_run") << '\n'
        << "last status:  " << last_status(job) << '\n'
        << "running:      " << job.value("running", 0) << '\n'
        << "created:      " << text_or(job, "created") << '\n'
        << "updated:      " << text_or(job, "updated") << '\n';
}

// --- commands -----------------------------------------------------------------

std::string single_name(const parsed_args& a, std::string_view command) {
    if (a.positional.size() != 1) {
        throw usage_error(std::string(command) + " needs exactly one job NAME, got " +
                          std::to_string(a.positional.size()));
    }
    return a.positional[0];
}

int cmd_add(const parsed_args& a, std::ostream& out) {
    auto name = a.get("--name");
    if (!name && a.positional.size() == 1) name = a.positional[0];
    if (!name) throw usage_error("add needs --name NAME");
    if (!a.positional.empty() && a.get("--name")) {
        throw usage_error("add: unexpected argument " + in_quotes(a.positional[0]) +
                          "; put the command after --, or use --shell \"LINE\"");
    }
    auto trigger = trigger_of(a);
    if (!trigger) throw usage_error("add needs a schedule: --cron EXPR, --every DURATION or --at INSTANT");
    json task = {{"kind", "shell"}};
    if (!apply_task_options(a, task) || (!task.contains("argv") && !task.contains("command"))) {
        throw usage_error("add needs a command: -- COMMAND ARGS... or --shell \"LINE\"");
    }
    json job = {{"name", *name}, {"trigger", *trigger}, {"task", task}};
    json policy = json::object();
    if (apply_policy_options(a, policy)) job["policy"] = policy;
    json sinks = json::array({{{"kind", "history"}}});
    if (apply_sink_options(a, sinks)) job["sinks"] = sinks;
    apply_common(a, job);
    auto result = call(connection_of(a), {{"op", "add"}, {"job", job}});
    if (a.has("--json")) {
        out << result.dump(2) << '\n';
    } else {
        out << "added " << result["name"].get<std::string>() << ", next run "
            << text_or(result, "next_run", "none") << (result["paused"] == true ? " (paused)" : "")
            << '\n';
    }
    return exit_ok;
}

int cmd_edit(const parsed_args& a, std::ostream& out) {
    auto name = single_name(a, "edit");
    auto c = connection_of(a);
    auto current = call(c, {{"op", "get"}, {"name", name}});
    json changes = json::object();
    if (auto n = a.get("--name")) changes["name"] = *n;
    if (auto t = trigger_of(a)) changes["trigger"] = *t;
    json task = current["task"];
    if (apply_task_options(a, task)) changes["task"] = task;
    json policy = current["policy"];
    if (apply_policy_options(a, policy)) changes["policy"] = policy;
    json sinks = current["sinks"];
    if (apply_sink_options(a, sinks)) changes["sinks"] = sinks;
    apply_common(a, changes);
    if (changes.empty()) {
        throw usage_error("edit: nothing to change; give options such as --cron, --every, "
                          "--shell or --timeout");
    }
    auto result = call(c, {{"op", "update"}, {"name", name}, {"job", changes}});
    if (a.has("--json")) {
        out << result.dump(2) << '\n';
    } else {
        out << "updated " << result["name"].get<std::string>() << ", next run "
            << text_or(result, "next_run", "none") << '\n';
    }
    return exit_ok;
}

int cmd_list(const parsed_args& a, std::ostream& out) {
    if (!a.positional.empty()) throw usage_error("list takes no arguments");
    auto jobs = call(connection_of(a), {{"op", "list"}})["jobs"];
    if (a.has("--json")) {
        out << jobs.dump(2) << '\n';
        return exit_ok;
    }
    if (jobs.empty()) {
        out << "no jobs; add one with chimectl add or chimectl import-crontab\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows{{"NAME", "SCHEDULE", "NEXT RUN", "LAST STATUS", "PAUSED"}};
    for (const auto& j : jobs) {
        rows.push_back({j["name"].get<std::string>(), schedule_text(j["trigger"]),
                        text_or(j, "next_run"), last_status(j), j["paused"] == true ? "yes" : "no"});
    }
    print_table(out, rows);
    return exit_ok;
}

int cmd_show(const parsed_args& a, std::ostream& out) {
    auto job = call(connection_of(a), {{"op", "get"}, {"name", single_name(a, "show")}});
    if (a.has("--json")) {
        out << job.dump(2) << '\n';
    } else {
        print_job(out, job);
    }
    return exit_ok;
}

int cmd_history(const parsed_args& a, std::ostream& out, std::span<const option_spec>) {
    json request = {{"op", "history"}, {"name", single_name(a, "history")}};
    if (auto l = a.get("--limit")) {
        auto n = whole_number(*l, "--limit", 100000);
        if (n == 0) throw usage_error("--limit must be at least 1");
        request["limit"] = n;
    }
    auto runs = call(connection_of(a), request)["runs"];
    if (a.has("--json")) {
        out << runs.dump(2) << '\n';
        return exit_ok;
    }
    if (runs.empty()) {
        out << "no runs recorded\n";
        return exit_ok;
    }
    std::vector<std::vector<std::string>> rows{{"RUN", "STATUS", "SCHEDULED", "STARTED", "DURATION", "EXIT", "OUTPUT"}};
    for (const auto& r : runs) {
        std::string output = text_or(r, "output", "");
        std::replace(output.begin(), output.end(), '\n', ' ');
        if (output.size() > 60) output = output.substr(0, 57) + "...";
        if (r.value("output_truncated", false)) output += " [output truncated]";
        if (output.empty() && r.contains("error")) output = text_or(r, "error", "");
        std::string duration = r.contains("duration_ms") ? std::to_string(r["duration_ms"].get<long long>()) + " ms" : "-";
        std::string count = r.contains("count") ? " x" + std::to_string(r["count"].get<long long>()) : "";
        rows.push_back({std::to_string(r["id"].get<long long>()), text_or(r, "status") + count,
                        text_or(r, "scheduled"), text_or(r, "started"), duration,
                        r["exit_code"].is_number() ? std::to_string(r["exit_code"].get<int>()) : "-", output});
    }
    print_table(out, rows);
    return exit_ok;
}

int cmd_simple(const parsed_args& a, std::ostream& out, const char* op, const char* done) {
    auto name = single_name(a, op);
    auto result = call(connection_of(a), {{"op", op}, {"name", name}});
    if (a.has("--json")) {
        out << result.dump(2) << '\n';
    } else if (std::string_view(op) == "run_now" && result.value("accepted", true) == false) {
        out << name << ": " << result.value("note", "not started") << '\n';
    } else {
        out << done << ' ' << name << '\n';
    }
    return exit_ok;
}

int cmd_import_crontab(const parsed_args& a, std::ostream& out, std::ostream& err) {
    if (a.positional.size() != 1) throw usage_error("import-crontab needs one FILE");
    const auto& path = a.positional[0];
    auto text = read_file(path, "import-crontab");
    auto format = a.has("--system") ? chime::crontab_format::system : chime::crontab_format::user;
    auto file = chime::parse_crontab(text, format);
    for (const auto& e : file.errors) {
        err << "chimectl: " << path << ":" << e.line << ": " << e.message << " (line not imported)\n";
    }
    auto stem = std::filesystem::path(path == "-" ? "stdin" : path).filename().string();
    auto jobs = chime::crontab_jobs(file, stem);
    if (a.has("--paused")) {
        for (auto& j : jobs) j["paused"] = true;
    }
    if (jobs.empty()) {
        out << "no jobs to import from " << path << '\n';
        return file.errors.empty() ? exit_ok : exit_usage;
    }
    auto result = call(connection_of(a), {{"op", "import"}, {"jobs", jobs}, {"replace", a.has("--replace")}});
    if (a.has("--json")) {
        out << result.dump(2) << '\n';
    } else {
        out << "imported " << result["imported"].size() << " jobs from " << path
            << (a.has("--paused") ? " (paused: review them, then chimectl resume NAME)" : "");
        if (!file.errors.empty()) out << "; " << file.errors.size() << " lines not imported";
        out << '\n';
    }
    return file.errors.empty() ? exit_ok : exit_usage;
}

int cmd_export(const parsed_args& a, std::ostream& out) {
    auto result = call(connection_of(a), {{"op", "export"}});
    if (a.positional.size() == 1) {
        std::ofstream file(a.positional[0]);
        file << result.dump(2) << '\n';
        if (!file) throw daemon_error("cannot write " + in_quotes(a.positional[0]));
        out << "exported " << result["jobs"].size() << " jobs to " << a.positional[0] << '\n';
    } else {
        out << result.dump(2) << '\n';
    }
    return exit_ok;
}

int cmd_import(const parsed_args& a, std::ostream& out) {
    if (a.positional.size() != 1) throw usage_error("import needs one FILE (or - for standard input)");
    auto j = parse_json_text(read_file(a.positional[0], "import"), "import " + a.positional[0]);
    json jobs = j.is_object() && j.contains("jobs") ? j["jobs"] : j;
    if (!jobs.is_array()) throw usage_error("import: the file must hold a JSON array of jobs, or chimectl export's output");
    auto result = call(connection_of(a), {{"op", "import"}, {"jobs", jobs}, {"replace", a.has("--replace")}});
    out << "imported " << result["imported"].size() << " jobs\n";
    return exit_ok;
}

int cmd_status(const parsed_args& a, std::ostream& out) {
    auto c = connection_of(a);
    auto result = call(c, {{"op", "ping"}});
    if (a.has("--json")) {
        out << result.dump(2) << '\n';
    } else {
        out << "chimed is running: pid " << result["pid"] << ", database "
            << result["database"].get<std::string>() << ", " << result["jobs"] << " jobs, "
            << result["running"] << " running, control " << c.endpoint << '\n';
    }
    return exit_ok;
}

constexpr option_spec history_options[] = {{"--limit", true}};
constexpr option_spec import_options[] = {{"--system", false}, {"--paused", false}, {"--replace", false}};

struct command_spec {
    std::string_view name;
    std::span<const option_spec> options;
};

const command_spec commands[] = {
    {"add", job_options},        {"edit", job_options},   {"list", {}},
    {"show", {}},                {"history", history_options}, {"run-now", {}},
    {"pause", {}},               {"resume", {}},          {"remove", {}},
    {"import-crontab", import_options}, {"export", {}},   {"import", import_options},
    {"status", {}},              {"stop", {}}};

} // namespace

bool is_daemon_command(std::string_view name) {
    return std::any_of(std::begin(commands), std::end(commands),
                       [&](const command_spec& c) { return c.name == name; });
}

void print_daemon_usage(std::ostream& out) {
    out << R"(Commands that talk to chimed:
  add --name NAME SCHEDULE [OPTIONS] -- COMMAND [ARGS...]
  add --name NAME SCHEDULE [OPTIONS] --shell "COMMAND LINE"
      SCHEDULE is one of --cron EXPR, --every DURATION, --at INSTANT (or
      --trigger JSON), with --tz ZONE and --dst POLICY.
      OPTIONS: --paused --timeout D --retries N --retry-delay D --overlap MODE
      --max-instances N --misfire-grace D --coalesce MODE --catch-up MODE
      --on-interrupted rerun|skip|notify --keep N --no-history --output-cap BYTES
      --cwd DIR --env NAME=VALUE --user NAME --kill-grace D --log
      --mail-to ADDR [--mail-when MODE --mail-server URL --mail-from ADDR]
      --webhook URL [--webhook-when MODE] --sinks JSON
  edit NAME [the options of add; only those given change; --name renames]
  list [--json]                 jobs with schedule, next run and last status
  show NAME [--json]
  history NAME [--limit N] [--json]   runs, newest first
  run-now NAME | pause NAME | resume NAME | remove NAME
  import-crontab [--system] [--paused] [--replace] FILE
  export [FILE]                 every job as JSON
  import [--replace] FILE       jobs from chimectl export (all or nothing)
  status                        whether chimed runs, its pid and database
  stop                          ask chimed to stop

Connection (every command above): --socket ENDPOINT (default ipc://chime.control,
or $CHIME_SOCKET), --db PATH (the socket beside that database), --wait D (reply
timeout, default 5s), --server-key FILE --client-key FILE (tcp:// with CURVE).
Durations: ISO 8601 (PT30S) or 30s, 5m, 2h, 1d.
Exit status: 0 success, 1 chimed unreachable or failing, 2 invalid input.
)";
}

int run_daemon_command(std::string_view command, std::span<const std::string_view> args,
                       std::ostream& out, std::ostream& err) {
    const command_spec* spec = nullptr;
    for (const auto& c : commands) {
        if (c.name == command) spec = &c;
    }
    try {
        auto a = parse_args(command, args, spec->options);
        if (a.has("-h") || a.has("--help")) {
            print_daemon_usage(out);
            return exit_ok;
        }
        if (a.has_dashdash && command != "add" && command != "edit") {
            throw usage_error(std::string(command) + " takes no command after --");
        }
        if (command == "add") return cmd_add(a, out);
        if (command == "edit") return cmd_edit(a, out);
        if (command == "list") return cmd_list(a, out);
        if (command == "show") return cmd_show(a, out);
        if (command == "history") return cmd_history(a, out, spec->options);
        if (command == "run-now") return cmd_simple(a, out, "run_now", "started");
        if (command == "pause") return cmd_simple(a, out, "pause", "paused");
        if (command == "resume") return cmd_simple(a, out, "resume", "resumed");
        if (command == "remove") return cmd_simple(a, out, "remove", "removed");
        if (command == "import-crontab") return cmd_import_crontab(a, out, err);
        if (command == "export") return cmd_export(a, out);
        if (command == "import") return cmd_import(a, out);
        if (command == "status") return cmd_status(a, out);
        if (command == "stop") {
            call(connection_of(a), {{"op", "shutdown"}});
            out << "chimed is stopping\n";
            return exit_ok;
        }
    } catch (const usage_error& e) {
        err << "chimectl: " << e.what() << '\n';
        return exit_usage;
    } catch (const chime::invalid_input& e) {
        err << "chimectl: " << e.what() << '\n';
        return exit_usage;
    } catch (const daemon_error& e) {
        err << "chimectl: " << e.what() << '\n';
        return exit_failure;
    } catch (const reply_error& e) {
        err << "chimectl: " << e.what() << '\n';
        bool users_mistake = e.code == "invalid_job" || e.code == "bad_request" ||
                             e.code == "not_found" || e.code == "conflict" ||
                             e.code == "unknown_op" || e.code == "too_large" ||
                             e.code == "bad_json";
        return users_mistake ? exit_usage : exit_failure;
    }
    return exit_failure;
}

} // namespace chimectl
