// SPDX-License-Identifier: GPL-3.0-or-later
#include "report.h"

#include "common/json.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace Cachedash {

double Report::totalSalesFor(const QString &region)
{
    const auto codePoints = region.toUcs4().size();
    // Python's round(x, 2) rounds the exact binary value; printf's %.2f does the same.
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.2f", double(codePoints) * 1234.56);
    return std::strtod(buffer, nullptr);
}

Report Report::compute(const QString &region, const QDateTime &now)
{
    Report r;
    r.region = region;
    r.totalSales = totalSalesFor(region);
    const QDateTime utc = now.toUTC();
    r.generatedAt = utc;
    return r;
}

QByteArray isoTimestamp(const QDateTime &utc)
{
    return utc.toUTC().toString(QStringLiteral("yyyy-MM-ddTHH:mm:ss.zzz")).toLatin1()
        + QByteArrayLiteral("+00:00");
}

QByteArray Report::toJson(bool cached) const
{
    QByteArray out;
    out.reserve(112 + region.size());
    out += "{\"region\":";
    out += jsonString(region);
    out += ",\"total_sales\":";
    out += jsonNumber(totalSales);
    out += ",\"generated_at\":\"";
    out += isoTimestamp(generatedAt);
    out += "\",\"cached\":";
    out += cached ? "true}" : "false}";
    return out;
}

std::optional<Report> Report::fromJson(const QByteArray &json, const QString &expectedRegion, QString *why)
{
    auto refuse = [why](const QString &reason) -> std::optional<Report> {
        if (why)
            *why = reason;
        return std::nullopt;
    };
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError)
        return refuse(QStringLiteral("not JSON (%1)").arg(error.errorString()));
    if (!doc.isObject())
        return refuse(QStringLiteral("not a JSON object"));
    const QJsonObject object = doc.object();
    const QJsonValue region = object.value(QLatin1String("region"));
    const QJsonValue sales = object.value(QLatin1String("total_sales"));
    const QJsonValue generated = object.value(QLatin1String("generated_at"));
    const QJsonValue cached = object.value(QLatin1String("cached"));
    if (!region.isString())
        return refuse(QStringLiteral("\"region\" is missing or not a string"));
    if (region.toString() != expectedRegion)
        return refuse(QStringLiteral("it is the report of another region"));
    if (!sales.isDouble() || !std::isfinite(sales.toDouble()))
        return refuse(QStringLiteral("\"total_sales\" is missing or not a number"));
    if (!generated.isString())
        return refuse(QStringLiteral("\"generated_at\" is missing or not a string"));
    const QDateTime at = QDateTime::fromString(generated.toString(), Qt::ISODateWithMs);
    if (!at.isValid())
        return refuse(QStringLiteral("\"generated_at\" is not an ISO-8601 timestamp"));
    if (!cached.isUndefined() && !cached.isBool())
        return refuse(QStringLiteral("\"cached\" is not a boolean"));
    Report r;
    r.region = region.toString();
    r.totalSales = sales.toDouble();
    r.generatedAt = at.toUTC();
    return r;
}

} // namespace Cachedash
