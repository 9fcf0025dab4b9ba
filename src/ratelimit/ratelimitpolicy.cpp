// SPDX-License-Identifier: GPL-3.0-or-later
#include "ratelimitpolicy.h"

using namespace std::chrono;

namespace Cachedash {

namespace {

struct Unit
{
    char16_t suffix;
    qint64 seconds;
};
constexpr Unit Units[] = {{u'd', 86'400}, {u'h', 3'600}, {u'm', 60}, {u's', 1}};

} // namespace

std::optional<RateLimit> RateLimit::parse(QStringView text, std::optional<seconds> bareWindow, QString *error)
{
    auto fail = [&](const QString &why) -> std::optional<RateLimit> {
        if (error)
            *error = QStringLiteral("\"%1\" is not a rate limit: %2").arg(text.left(40).toString(), why);
        return std::nullopt;
    };
    const QStringView trimmed = text.trimmed();
    const qsizetype slash = trimmed.indexOf(u'/');
    RateLimit result;
    bool ok = false;
    const qint64 n = trimmed.left(slash < 0 ? trimmed.size() : slash).trimmed().toLongLong(&ok);
    if (!ok || n < 1 || n > MaxLimit)
        return fail(
            QStringLiteral("write N/DURATION, N from 1 to %1 (for example 5/10s or 100/1h)").arg(MaxLimit));
    result.limit = int(n);
    if (slash < 0) {
        if (!bareWindow)
            return fail(QStringLiteral("give a window, as in %1/10s").arg(n));
        result.window = *bareWindow;
        return result;
    }
    QStringView duration = trimmed.mid(slash + 1).trimmed();
    qint64 unit = 0;
    for (const Unit &u : Units) {
        if (duration.endsWith(u.suffix)) {
            unit = u.seconds;
            duration.chop(1);
            break;
        }
    }
    const qint64 count = duration.toLongLong(&ok);
    if (unit == 0 || !ok || count < 1)
        return fail(QStringLiteral("the window must be a whole number of s, m, h or d (10s, 1m, 1h, 1d)"));
    if (count > MaxWindow.count() / unit)
        return fail(QStringLiteral("the window can be at most 7d"));
    result.window = seconds(count * unit);
    return result;
}

std::optional<QList<RateLimit>> RateLimit::parseList(QStringView text, QString *error)
{
    QList<RateLimit> limits;
    for (QStringView part : text.split(u',', Qt::SkipEmptyParts)) {
        if (part.trimmed().isEmpty())
            continue;
        const auto limit = parse(part, std::nullopt, error);
        if (!limit)
            return std::nullopt;
        limits.append(*limit);
    }
    return limits;
}

QString RateLimit::listText(const QList<RateLimit> &limits)
{
    QStringList parts;
    for (const RateLimit &l : limits)
        parts << l.text();
    return parts.join(QStringLiteral(", "));
}

QString RateLimit::text() const
{
    for (const Unit &u : Units) {
        if (window.count() % u.seconds == 0)
            return QStringLiteral("%1/%2%3").arg(limit).arg(window.count() / u.seconds).arg(QChar(u.suffix));
    }
    Q_UNREACHABLE();
    return QString();
}

QByteArray RateLimit::policyItem() const
{
    return QByteArray::number(limit) + ";w=" + QByteArray::number(qint64(window.count()));
}

QString algorithmName(RateAlgorithm algorithm)
{
    switch (algorithm) {
    case RateAlgorithm::SlidingLog: return QStringLiteral("sliding-log");
    case RateAlgorithm::Gcra: return QStringLiteral("gcra");
    case RateAlgorithm::SlidingWindowCounter: return QStringLiteral("sliding-window-counter");
    }
    Q_UNREACHABLE();
    return QString();
}

std::optional<RateAlgorithm> algorithmFromName(QStringView name)
{
    for (RateAlgorithm a :
        {RateAlgorithm::SlidingLog, RateAlgorithm::Gcra, RateAlgorithm::SlidingWindowCounter}) {
        if (name.trimmed().compare(algorithmName(a), Qt::CaseInsensitive) == 0)
            return a;
    }
    return std::nullopt;
}

QString modeName(RateLimitMode mode)
{
    return mode == RateLimitMode::Shadow ? QStringLiteral("shadow") : QStringLiteral("enforce");
}

std::optional<RateLimitMode> modeFromName(QStringView name)
{
    for (RateLimitMode m : {RateLimitMode::Enforce, RateLimitMode::Shadow}) {
        if (name.trimmed().compare(modeName(m), Qt::CaseInsensitive) == 0)
            return m;
    }
    return std::nullopt;
}

QByteArray RateLimitPolicy::header() const
{
    QByteArray out;
    for (const RateLimit &l : limits) {
        if (!out.isEmpty())
            out += ", ";
        out += l.policyItem();
    }
    return out;
}

QString RateLimitPolicy::describe() const
{
    if (limits.isEmpty())
        return QStringLiteral("none");
    QStringList parts;
    for (const RateLimit &l : limits)
        parts << l.text();
    QString out = parts.join(QStringLiteral(" + ")) + QStringLiteral(", ") + algorithmName(algorithm);
    if (mode == RateLimitMode::Shadow)
        out += QStringLiteral(", shadow");
    return out;
}

milliseconds RateLimitPolicy::longestWindow() const
{
    milliseconds longest{0};
    for (const RateLimit &l : limits)
        longest = std::max<milliseconds>(longest, l.window);
    return longest;
}

} // namespace Cachedash
