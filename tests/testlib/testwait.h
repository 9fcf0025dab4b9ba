// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QtGlobal>

#include <functional>

namespace Cachedash::Test {

// The monotonic clock in microseconds: the timeline on which loads and faults are laid out.
qint64 monotonicUs();

// Runs the event loop until done() holds or timeoutMs passes, and returns done(). Unlike
// QTest::qWait and QTRY_*, which sleep up to 10 ms between rounds of events, it keeps the loop
// running and checks done() every millisecond: a server living in the test's thread is not held
// up, and the test goes on as soon as what it waits for has happened.
bool waitUntil(const std::function<bool()> &done, qint64 timeoutMs);

// Runs the event loop until the monotonic clock reaches momentUs. For scenarios where time passing
// is the point (a load that runs for a while, a fault that lasts), never to guess how long
// something takes.
void runEventsUntil(qint64 momentUs);

} // namespace Cachedash::Test
