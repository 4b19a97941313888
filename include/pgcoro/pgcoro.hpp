#pragma once
// Everything public in pgcoro.

#include <pgcoro/batch.hpp>
#include <pgcoro/connect_options.hpp>
#include <pgcoro/connection.hpp>
#include <pgcoro/copy.hpp>
#include <pgcoro/error.hpp>
#include <pgcoro/expression.hpp>
#include <pgcoro/identifier.hpp>
#include <pgcoro/loading.hpp>
#include <pgcoro/logger.hpp>
#include <pgcoro/migrations.hpp>
#include <pgcoro/model.hpp>
#include <pgcoro/paging.hpp>
#include <pgcoro/pool.hpp>
#include <pgcoro/relations.hpp>
#include <pgcoro/repository.hpp>
#include <pgcoro/result.hpp>
#include <pgcoro/row_lock.hpp>
#include <pgcoro/rows.hpp>
#include <pgcoro/schema.hpp>
#include <pgcoro/select.hpp>
#include <pgcoro/session.hpp>
#include <pgcoro/sql_statement.hpp>
#include <pgcoro/types.hpp>
