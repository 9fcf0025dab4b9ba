// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QtGlobal>

#include <vector>

namespace Cachedash {

// p50 and p99 over the most recent latencies (a fixed-size ring, so memory stays flat).
class LatencyStats
{
public:
    explicit LatencyStats(int capacity = 4096);

    void add(double milliseconds);
    int count() const { return int(m_filled); }
    // Nearest-rank percentile of the recent window; 0 when empty.
    double percentile(double p) const;

private:
    std::vector<double> m_ring;
    size_t m_next = 0;
    size_t m_filled = 0;
};

} // namespace Cachedash
