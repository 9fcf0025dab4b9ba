// SPDX-License-Identifier: GPL-3.0-or-later
#include "requestfeed.h"

namespace Cachedash {

RequestFeed::RequestFeed(int maxPending)
    : m_maxPending(maxPending)
{ }

void RequestFeed::started(const RequestRecord &record)
{
    push({false, record});
}

void RequestFeed::finished(const RequestRecord &record)
{
    QMutexLocker lock(&m_mutex);
    ++m_totals.requests;
    switch (record.outcome) {
    case Outcome::Hit: ++m_totals.hits; break;
    case Outcome::Miss: ++m_totals.misses; break;
    case Outcome::Stale: ++m_totals.stale; break;
    case Outcome::Bypass: ++m_totals.bypass; break;
    case Outcome::Limited: ++m_totals.limited; break;
    case Outcome::Shadowed: ++m_totals.shadowed; break;
    case Outcome::Invalidated: ++m_totals.invalidated; break;
    case Outcome::NotCached: ++m_totals.notCached; break;
    case Outcome::Error: ++m_totals.errors; break;
    case Outcome::None:
        if (record.status >= 500)
            ++m_totals.errors;
        break;
    }
    pushLocked({true, record});
}

void RequestFeed::push(Event event)
{
    QMutexLocker lock(&m_mutex);
    pushLocked(std::move(event));
}

void RequestFeed::pushLocked(Event event)
{
    if (m_pending.size() >= m_maxPending) {
        // Keep the newest half: the window shows the latest requests anyway.
        const qsizetype drop = m_pending.size() / 2;
        m_pending.remove(0, drop);
        m_dropped += quint64(drop);
    }
    m_pending.append(std::move(event));
}

QList<RequestFeed::Event> RequestFeed::take()
{
    QMutexLocker lock(&m_mutex);
    return std::exchange(m_pending, {});
}

RequestFeed::Totals RequestFeed::totals() const
{
    QMutexLocker lock(&m_mutex);
    return m_totals;
}

} // namespace Cachedash
