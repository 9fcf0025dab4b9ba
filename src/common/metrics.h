// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Cachedash {

class Histogram;

// Writes the Prometheus text exposition format (version 0.0.4): each metric family once with its
// HELP and TYPE lines, then its samples. Label values are escaped here; names and label names are
// the caller's literals.
class MetricsWriter
{
public:
    MetricsWriter();

    // Starts a family: "# HELP name help" and "# TYPE name type" (counter, gauge, histogram).
    void family(QByteArrayView name, QByteArrayView type, QByteArrayView help);
    // A family with a single unlabelled sample: family(), then sample(name, value).
    void single(QByteArrayView name, QByteArrayView type, QByteArrayView help, double value)
    {
        family(name, type, help);
        sample(name, value);
    }
    // One sample: name{labels} value. `labels` is "key=\"value\",..." or empty (see label()).
    void sample(QByteArrayView name, QByteArrayView labels, double value);
    void sample(QByteArrayView name, double value) { sample(name, {}, value); }
    // The _bucket, _sum and _count samples of a histogram, with optional extra labels.
    void histogram(QByteArrayView name, const Histogram &histogram, QByteArrayView labels = {});

    // key="value", the value escaped as the format asks (backslash, double quote, newline).
    static QByteArray label(QByteArrayView key, QByteArrayView value);

    const QByteArray &text() const { return m_out; }

private:
    // "name<suffix>{labels} ", the start of a sample line.
    void start(QByteArrayView name, QByteArrayView suffix, QByteArrayView labels);

    QByteArray m_out;
};

// Something with figures for /metrics: each layer writes its own families, and whoever serves
// /metrics asks each source in turn without knowing what it is.
class MetricsSource
{
public:
    virtual ~MetricsSource() = default;
    virtual void writeMetrics(MetricsWriter &out) const = 0;
};

} // namespace Cachedash
