// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QStringBuilder>

#include <array>
#include <chrono>

namespace Cachedash {

// A latency histogram with fixed buckets (seconds), in the shape Prometheus exposes: cumulative
// counts per upper bound, a sum and a count. Cheap enough for the request path; single-threaded.
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

    // The Prometheus text lines of this histogram for metric `name` (with optional extra labels).
    QByteArray render(const QByteArray &name, const QByteArray &labels = {}) const
    {
        QByteArray out;
        const QByteArray sep = labels.isEmpty() ? QByteArray() : QByteArray(labels + ',');
        for (size_t i = 0; i <= Bounds.size(); ++i) {
            const QByteArray le
                = i < Bounds.size() ? QByteArray::number(Bounds[i], 'g', 6) : QByteArrayLiteral("+Inf");
            out += name + "_bucket{" + sep + "le=\"" + le + "\"} " + QByteArray::number(cumulative(i)) + '\n';
        }
        const QByteArray plain = labels.isEmpty() ? QByteArray() : QByteArray('{' + labels + '}');
        out += name + "_sum" + plain + ' ' + QByteArray::number(m_sum, 'g', 10) + '\n';
        out += name + "_count" + plain + ' ' + QByteArray::number(m_count) + '\n';
        return out;
    }

private:
    std::array<quint64, Bounds.size() + 1> m_buckets{};
    double m_sum = 0;
    quint64 m_count = 0;
};

} // namespace Cachedash
