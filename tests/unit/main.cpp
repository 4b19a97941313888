#define BOOST_TEST_MODULE pgcoro_unit
#include <boost/test/unit_test.hpp>
