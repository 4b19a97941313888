#pragma once
// Where pgcoro's own messages (and server notices without a user handler) go. libpq never
// writes to stderr through pgcoro: every connection installs a notice receiver.

#include <functional>
#include <string_view>

namespace pgcoro {

enum class log_level { debug, info, warning, error };

/// Receives one log line. Must not throw; may be called from any thread that drives a
/// connection.
using log_function = std::function<void(log_level, std::string_view)>;

/// Replaces the process-wide logger and returns the previous one. Call it at start-up,
/// before connections exist (it is not synchronised with logging threads). An empty
/// function silences pgcoro. The default writes warnings and errors to stderr.
log_function set_logger(log_function logger);

/// Writes one line through the current logger.
void log(log_level level, std::string_view message) noexcept;

} // namespace pgcoro
