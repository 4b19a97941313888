#pragma once
// Everything public in pgcoro.

#include <pgcoro/batch.hpp>
#include <pgcoro/connect_options.hpp>
#include <pgcoro/connection.hpp>
#include <pgcoro/error.hpp>
#include <pgcoro/logger.hpp>
#include <pgcoro/pool.hpp>
#include <pgcoro/result.hpp>
#include <pgcoro/rows.hpp>
#include <pgcoro/types.hpp>
