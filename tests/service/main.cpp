#define BOOST_TEST_MODULE pgcoro_service_tests
#include <boost/test/unit_test.hpp>
