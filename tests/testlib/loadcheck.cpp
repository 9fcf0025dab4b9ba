// SPDX-License-Identifier: GPL-3.0-or-later
#include "loadcheck.h"

#include <QHash>
#include <QJsonObject>
#include <QJsonValue>
#include <QTest>

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

namespace Cachedash::Test {

QString problemWith(const Exchange &e, bool limiterDenies)
{
    const QJsonObject json = e.json();
    switch (e.kind) {
    case RequestKind::Report:
        if (e.status == 200) {
            if (json.value(QLatin1String("region")).toString() != e.region)
                return QStringLiteral("the report of another region");
            const bool cached = json.value(QLatin1String("cached")).toBool(false);
            if (e.xCache == "HIT" || e.xCache == "STALE") {
                if (!cached)
                    return QStringLiteral("X-Cache says cached, the body does not");
            } else if (e.xCache == "MISS" || e.xCache == "BYPASS") {
                if (cached)
                    return QStringLiteral("the body says cached, X-Cache does not");
            } else {
                return QStringLiteral("no known X-Cache");
            }
            if (e.generatedAtMs() < 0)
                return QStringLiteral("no valid generated_at");
            return {};
        }
        // Fail-closed: the documented refusal while the limiter cannot decide.
        if (e.status == 503 && limiterDenies && e.retryAfter.toInt() >= 1
            && json.value(QLatin1String("detail"))
                   .toString()
                   .contains(QStringLiteral("rate limiter is unavailable")))
            return {};
        return QStringLiteral("status %1 for a report").arg(e.status);
    case RequestKind::Refresh:
        if (e.status == 200 && json.value(QLatin1String("invalidated")).isBool())
            return {};
        // Documented: Redis is unavailable, nothing was invalidated.
        if (e.status == 503 && json.value(QLatin1String("invalidated")) == QJsonValue(false)
            && !e.retryAfter.isEmpty())
            return {};
        return QStringLiteral("status %1 for a refresh").arg(e.status);
    case RequestKind::Health:
        if (e.status == 200 || e.status == 503) // 503: documented, Redis does not answer
            return {};
        return QStringLiteral("status %1 for /healthz").arg(e.status);
    }
    return {};
}

double Tally::maxLatency() const
{
    return *std::max_element(std::begin(maxLatencyMs), std::end(maxLatencyMs));
}

QString Tally::outcomesText() const
{
    QStringList parts;
    for (auto it = outcomes.cbegin(); it != outcomes.cend(); ++it)
        parts << it.key() + QStringLiteral(": ") + QString::number(it.value());
    return parts.join(QStringLiteral(", "));
}

Tally tallyOf(const MixedLoad &load, bool limiterDenies, qint64 boundMs)
{
    Tally t;
    auto note = [&t, &load](const Exchange &e, const QString &what) {
        if (t.examples.size() < 10)
            t.examples << QStringLiteral("%1 %2 sent at +%3 ms: %4")
                              .arg(labelOf(e.kind), e.region)
                              .arg((e.sentUs - load.startUs()) / 1000)
                              .arg(what);
    };
    for (const Exchange &e : load.exchanges()) {
        ++t.sent;
        if (!e.answered()) {
            ++t.lost;
            note(e,
                e.connectionClosed ? QStringLiteral("connection closed, no answer")
                                   : QStringLiteral("no answer"));
            continue;
        }
        ++t.answered;
        QString key = labelOf(e.kind) + u' ' + QString::number(e.status);
        if (!e.xCache.isEmpty())
            key += u' ' + QString::fromLatin1(e.xCache);
        ++t.outcomes[key];
        double &max = t.maxLatencyMs[int(e.kind)];
        max = std::max(max, e.latencyMs());
        if (e.latencyMs() > double(boundMs)) {
            ++t.late;
            note(e, QStringLiteral("answered after %1 ms").arg(e.latencyMs(), 0, 'f', 1));
        }
        if (e.status == 500)
            ++t.status500;
        const QString why = problemWith(e, limiterDenies);
        if (!why.isEmpty()) {
            ++t.wrong;
            note(e, why + QStringLiteral(": ") + QString::fromUtf8(e.body.left(200)));
        }
    }
    return t;
}

void checkEveryAnswer(const Tally &tally, const MixedLoad &load)
{
    for (const QString &example : tally.examples)
        qWarning().noquote() << "  " << example;
    QCOMPARE(tally.lost, 0);
    QCOMPARE(load.unexpectedAnswers(), 0);
    QCOMPARE(tally.status500, 0);
    QVERIFY2(tally.wrong == 0, qPrintable(tally.examples.join(u'\n')));
    QVERIFY2(tally.late == 0, qPrintable(tally.examples.join(u'\n')));
}

InvalidationCheck checkInvalidation(const std::vector<Exchange> &exchanges, qint64 reportDelayMs)
{
    struct Ack
    {
        qint64 ackUs;
        qint64 sentWallMs;
    };
    QHash<QString, std::vector<Ack>> acks;
    InvalidationCheck result;
    for (const Exchange &e : exchanges) {
        if (e.kind != RequestKind::Refresh || e.status != 200)
            continue;
        acks[e.region].push_back({e.doneUs, e.sentWallMs});
        ++result.refreshes;
        if (e.latencyMs() <= double(reportDelayMs - kClockMarginMs))
            ++result.covered;
    }
    // Sorted by acknowledgement, each with the latest send among the acknowledgements up to it.
    QHash<QString, std::vector<std::pair<qint64, qint64>>> floors;
    for (auto it = acks.begin(); it != acks.end(); ++it) {
        std::sort(it->begin(), it->end(), [](const Ack &a, const Ack &b) { return a.ackUs < b.ackUs; });
        qint64 latestSent = std::numeric_limits<qint64>::min();
        auto &f = floors[it.key()];
        for (const Ack &a : *it) {
            latestSent = std::max(latestSent, a.sentWallMs);
            f.emplace_back(a.ackUs, latestSent);
        }
    }
    for (const Exchange &e : exchanges) {
        if (e.kind != RequestKind::Report || e.status != 200 || !e.fromCache())
            continue;
        const auto f = floors.constFind(e.region);
        if (f == floors.cend())
            continue;
        // The last acknowledgement strictly before this request was sent.
        const auto after = std::lower_bound(f->cbegin(), f->cend(), e.sentUs,
            [](const std::pair<qint64, qint64> &ack, qint64 sentUs) { return ack.first < sentUs; });
        if (after == f->cbegin())
            continue;
        const qint64 refreshSentMs = std::prev(after)->second;
        ++result.checked;
        const qint64 generatedMs = e.generatedAtMs();
        const qint64 floorMs = refreshSentMs + reportDelayMs - kClockMarginMs;
        if (generatedMs >= floorMs)
            continue;
        if (++result.violations <= 10)
            result.examples << QStringLiteral("%1 %2 %3, requested at %4 ms, after a refresh sent at %5 ms "
                                              "had been acknowledged: generated_at %6 ms < %5 + %7 ms")
                                   .arg(e.region, QString::fromLatin1(e.xCache), QString::fromUtf8(e.body))
                                   .arg(e.sentWallMs)
                                   .arg(refreshSentMs)
                                   .arg(generatedMs)
                                   .arg(reportDelayMs - kClockMarginMs);
    }
    return result;
}

} // namespace Cachedash::Test
