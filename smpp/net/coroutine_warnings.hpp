// GCC 12, when optimising, reports -Wmismatched-new-delete on Asio's
// coroutine frames (awaitable_frame_base allocates them with its own
// operator new, via aligned_alloc, and frees them with its own operator
// delete): a false positive (GCC PR 109224). Included by the smpp/net sources
// that define coroutines; not part of the public API.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
