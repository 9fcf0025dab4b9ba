// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QtGlobal>

#include <array>
#include <chrono>

namespace Cachedash {

// A latency histogram with fixed buckets (seconds), in the shape Prometheus exposes: cumulative
// counts per upper bound, a sum and a count. Cheap enough for the request path; single-threaded.
// MetricsWriter::histogram() writes it out.
class Histogram
{
public:
    static constexpr std::array<double, 14> Bounds{
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

    void observe(double seconds)
    {
        size_t i = 0;
        while (i < Bounds.size() && seconds > Bounds[i])
            ++i;
        ++m_buckets[i]; // the last one is +Inf
        m_sum += seconds;
        ++m_count;
    }
    template<typename Rep, typename Period>
    void observe(std::chrono::duration<Rep, Period> d)
    {
        observe(std::chrono::duration<double>(d).count());
    }

    // Adds another histogram's observations to this one's.
    Histogram &operator+=(const Histogram &other)
    {
        for (size_t i = 0; i < m_buckets.size(); ++i)
            m_buckets[i] += other.m_buckets[i];
        m_sum += other.m_sum;
        m_count += other.m_count;
        return *this;
    }

    quint64 count() const { return m_count; }
    double sum() const { return m_sum; }
    // Cumulative count of observations <= Bounds[i]; i == Bounds.size() is +Inf.
    quint64 cumulative(size_t i) const
    {
        quint64 total = 0;
        for (size_t k = 0; k <= i && k < m_buckets.size(); ++k)
            total += m_buckets[k];
        return total;
    }

private:
    std::array<quint64, Bounds.size() + 1> m_buckets{};
    double m_sum = 0;
    quint64 m_count = 0;
};

} // namespace Cachedash
