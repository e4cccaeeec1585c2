// The one translation unit that compiles Asio (with its SSL part) and Beast
// (BOOST_*_SEPARATE_COMPILATION), so the rest of the code only instantiates templates.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
