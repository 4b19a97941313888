#define BOOST_TEST_MODULE pgcoro_integration
#include <boost/test/unit_test.hpp>
