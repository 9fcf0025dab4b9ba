// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "api/requestrecord.h"

#include <QList>
#include <QMutex>

#include <atomic>

namespace Cachedash {

// The hand-over of request events from the service's thread to the window's. The service side
// appends (any thread, a short lock); the window takes everything pending on its own clock, so a
// burst of 30,000 requests a second costs the window one batch per repaint, not one signal per
// request. Pending events are bounded: under a flood only the newest are kept, while the totals
// stay exact.
class RequestFeed
{
public:
    struct Event
    {
        bool finished = false; // false: the request just started (its status is 0)
        RequestRecord record;
    };

    struct Totals
    {
        quint64 requests = 0;
        quint64 hits = 0;
        quint64 misses = 0;
        quint64 stale = 0;
        quint64 bypass = 0;
        quint64 limited = 0;
        quint64 shadowed = 0; // served, though a limit would have refused them (shadow mode)
        quint64 invalidated = 0; // refreshes that deleted a stored report
        quint64 notCached = 0; // refreshes that found nothing stored
        quint64 errors = 0;
    };

    explicit RequestFeed(int maxPending = 20000);

    void started(const RequestRecord &record);
    void finished(const RequestRecord &record);

    // Everything appended since the last call, oldest first.
    QList<Event> take();
    Totals totals() const;
    quint64 dropped() const { return m_dropped.load(); }

private:
    void push(Event event);
    void pushLocked(Event event); // with m_mutex held

    const int m_maxPending;
    mutable QMutex m_mutex;
    QList<Event> m_pending;
    Totals m_totals;
    std::atomic<quint64> m_dropped{0};
};

} // namespace Cachedash
