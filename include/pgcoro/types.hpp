#pragma once
// Every built-in codec: include this to send and receive all the types pgcoro maps.
//
//   bool, std::int16_t / int32_t / int64_t, float, double     basic.hpp
//   std::string, std::string_view (text), std::vector<std::byte> (bytea)
//   boost::uuids::uuid                                         uuid.hpp
//   std::chrono sys_time / local_time / sys_days / year_month_day   chrono.hpp
//   pgcoro::interval                                           interval.hpp
//   pgcoro::numeric                                            numeric.hpp
//   boost::json::value (json, jsonb)                           json.hpp
//   std::vector<T>, std::vector<std::optional<T>> (arrays)     array.hpp
//   BOOST_DESCRIBE_ENUM enums                                  enum.hpp
//
// The customisation point for other types is pgcoro::type_traits (traits.hpp).

#include <pgcoro/types/traits.hpp>

#include <pgcoro/types/array.hpp>
#include <pgcoro/types/basic.hpp>
#include <pgcoro/types/chrono.hpp>
#include <pgcoro/types/enum.hpp>
#include <pgcoro/types/interval.hpp>
#include <pgcoro/types/json.hpp>
#include <pgcoro/types/numeric.hpp>
#include <pgcoro/types/uuid.hpp>
