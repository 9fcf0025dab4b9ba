// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QString>

#include <optional>

namespace Cachedash {

// One region's sales report: what the slow computation produces and what the cache stores.
struct Report
{
    QString region;
    double totalSales = 0;
    QDateTime generatedAt; // UTC, millisecond precision

    // The report the simulated computation gives for a region at a moment:
    // total_sales = round(len(region) * 1234.56, 2), len counting Unicode code points.
    static Report compute(const QString &region, const QDateTime &now);
    static double totalSalesFor(const QString &region);

    // {"region":...,"total_sales":...,"generated_at":"2026-11-28T20:09:04.380+00:00","cached":...}
    // in that order, compact. The cache stores toJson(false).
    QByteArray toJson(bool cached) const;

    // Parses and validates a stored report. Anything that is not a complete, well-typed report of
    // `expectedRegion` is refused with a reason.
    static std::optional<Report> fromJson(
        const QByteArray &json, const QString &expectedRegion, QString *why);

    friend bool operator==(const Report &, const Report &) = default;
};

// ISO-8601 with milliseconds and an explicit UTC offset: 2026-11-28T20:09:04.380+00:00.
QByteArray isoTimestamp(const QDateTime &utc);

} // namespace Cachedash
