#include <pgcoro/logger.hpp>

#include <cstdio>
#include <string>
#include <utility>

namespace pgcoro {
namespace {

void default_logger(log_level level, std::string_view message)
{
    if (level < log_level::warning)
        return;
    std::string line = "pgcoro: ";
    line.append(message);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
}

log_function& current_logger()
{
    static log_function logger = default_logger;
    return logger;
}

} // namespace

log_function set_logger(log_function logger)
{
    return std::exchange(current_logger(), std::move(logger));
}

void log(log_level level, std::string_view message) noexcept
{
    try {
        if (auto& logger = current_logger())
            logger(level, message);
    } catch (...) {
        // A logger must not throw; if it does, the line is lost rather than the connection.
    }
}

} // namespace pgcoro
