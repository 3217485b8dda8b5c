// Loopback port helpers for whatever starts local servers (sluice up, test fixtures).
// Thread-safe (pure functions over sockets).
#pragma once

namespace sluice {

// A TCP port on 127.0.0.1 that was free a moment ago (bound, read back, closed); -1 on error.
int FreeLoopbackPort();
// Whether 127.0.0.1:port could be bound right now (bound and closed at once).
bool LoopbackPortBindable(int port);
// Whether something accepts connections on 127.0.0.1:port right now.
bool LoopbackPortAccepts(int port);

}  // namespace sluice
