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
    const QByteArray &o = record.outcome;
    if (o == "HIT")
        ++m_totals.hits;
    else if (o == "MISS")
        ++m_totals.misses;
    else if (o == "STALE")
        ++m_totals.stale;
    else if (o == "BYPASS")
        ++m_totals.bypass;
    else if (o == "LIMITED")
        ++m_totals.limited;
    else if (o == "ERROR" || record.status >= 500)
        ++m_totals.errors;
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
