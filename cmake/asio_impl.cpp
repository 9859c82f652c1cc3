// The one translation unit that holds Asio's and Beast's compiled parts
// (BOOST_ASIO_SEPARATE_COMPILATION); every other file includes headers only.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
