// SPDX-License-Identifier: GPL-3.0-or-later
#include "metrics.h"

#include "histogram.h"

namespace Cachedash {

MetricsWriter::MetricsWriter()
{
    m_out.reserve(8192);
}

void MetricsWriter::family(QByteArrayView name, QByteArrayView type, QByteArrayView help)
{
    m_out += "# HELP ";
    m_out += name;
    m_out += ' ';
    m_out += help;
    m_out += "\n# TYPE ";
    m_out += name;
    m_out += ' ';
    m_out += type;
    m_out += '\n';
}

void MetricsWriter::start(QByteArrayView name, QByteArrayView suffix, QByteArrayView labels)
{
    m_out += name;
    m_out += suffix;
    if (!labels.isEmpty()) {
        m_out += '{';
        m_out += labels;
        m_out += '}';
    }
    m_out += ' ';
}

void MetricsWriter::sample(QByteArrayView name, QByteArrayView labels, double value)
{
    start(name, {}, labels);
    m_out += QByteArray::number(value, 'g', 15);
    m_out += '\n';
}

void MetricsWriter::histogram(QByteArrayView name, const Histogram &histogram, QByteArrayView labels)
{
    for (size_t i = 0; i <= Histogram::Bounds.size(); ++i) {
        m_out += name;
        m_out += "_bucket{";
        if (!labels.isEmpty()) {
            m_out += labels;
            m_out += ',';
        }
        m_out += "le=\"";
        m_out += i < Histogram::Bounds.size() ? QByteArray::number(Histogram::Bounds[i], 'g', 6)
                                              : QByteArrayLiteral("+Inf");
        m_out += "\"} ";
        m_out += QByteArray::number(histogram.cumulative(i));
        m_out += '\n';
    }
    start(name, "_sum", labels);
    m_out += QByteArray::number(histogram.sum(), 'g', 10);
    m_out += '\n';
    start(name, "_count", labels);
    m_out += QByteArray::number(histogram.count());
    m_out += '\n';
}

QByteArray MetricsWriter::label(QByteArrayView key, QByteArrayView value)
{
    QByteArray out;
    out.reserve(key.size() + value.size() + 3);
    out += key;
    out += "=\"";
    for (char c : value) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    out += '"';
    return out;
}

} // namespace Cachedash
