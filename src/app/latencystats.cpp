// SPDX-License-Identifier: GPL-3.0-or-later
#include "latencystats.h"

#include <algorithm>
#include <cmath>

namespace Cachedash {

LatencyStats::LatencyStats(int capacity)
    : m_ring(size_t(std::max(capacity, 1)))
{ }

void LatencyStats::add(double milliseconds)
{
    m_ring[m_next] = milliseconds;
    m_next = (m_next + 1) % m_ring.size();
    m_filled = std::min(m_filled + 1, m_ring.size());
}

double LatencyStats::percentile(double p) const
{
    if (m_filled == 0)
        return 0;
    std::vector<double> values(m_ring.begin(), m_ring.begin() + qsizetype(m_filled));
    const size_t rank = size_t(std::max(1.0, std::ceil(p / 100.0 * double(m_filled)))) - 1;
    std::nth_element(values.begin(), values.begin() + qsizetype(rank), values.end());
    return values[rank];
}

} // namespace Cachedash
