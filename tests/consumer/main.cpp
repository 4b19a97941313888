// Compiles and links against the installed headers and library; runs without a server.
#include <pgcoro/pgcoro.hpp>

#include <iostream>

int main()
{
    auto statement = pgcoro::detail::make_statement("SELECT $1", std::int32_t{1});
    std::cout << "pgcoro consumer: " << statement.size() << " parameter, type "
              << pgcoro::type_name(statement.types[0]) << "\n";
    return statement.types[0] == pgcoro::oids::int4 ? 0 : 1;
}
