#pragma once
// Text of a captured exception, for error messages and log lines (never thrown further).

#include <exception>
#include <string>

namespace pgcoro::detail {

inline std::string exception_text(const std::exception_ptr& failure)
{
    if (!failure)
        return "no error";
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown error";
    }
}

} // namespace pgcoro::detail
