// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "ratelimit/ratelimiter.h"

#include <QElapsedTimer>
#include <QList>
#include <QWidget>

namespace Cachedash {

// The watched client's limits as a picture, a lane per limit, drawn from what Redis keeps:
// - sliding-log: the last `window` on a timeline that slides left, one dot per admitted request
//   (the real entries of the sorted set, at their real times); the entry that leaves next is
//   ringed, with its countdown;
// - gcra: the theoretical arrival time (TAT) ahead of now, against the tolerance beyond which a
//   request is refused, and the allowance (requests admissible now);
// - sliding-window-counter: the previous and current fixed windows with their counts, the sliding
//   window laid over them, and the weighted estimate.
// Between snapshots the picture moves on with the time since the last one.
class LimiterWindowWidget : public QWidget
{
    Q_OBJECT

public:
    explicit LimiterWindowWidget(QWidget *parent = nullptr);

    // Entries are admission times in ms by Redis's clock (oldest first, possibly only the oldest and
    // the newest of `total`), `redisNowMs` that clock when read.
    void setWindow(const QList<qint64> &entries, qint64 total, qint64 redisNowMs, int limit, qint64 windowMs);
    // Every limit's state, as the limiter's peek read it at `readAtUs` (Redis's clock).
    void setLimits(RateAlgorithm algorithm, const QList<RateLimitState> &limits, qint64 readAtUs);

    RateAlgorithm algorithm() const { return m_algorithm; }
    int lanes() const { return int(std::max<qsizetype>(1, m_limits.size())); }
    // Redis's "now", moved on by the time since the last snapshot.
    qint64 nowMs() const;
    // Requests lane `lane`'s limit counts now, and its limit.
    int used(int lane = 0) const;
    int limitOf(int lane = 0) const;
    // Until lane `lane` admits a request; 0 when it does now.
    qint64 nextSlotInMs(int lane = 0) const;
    // Until every limit admits a request: the Retry-After a request now would get.
    qint64 retryInMs() const;
    // The lane whose limit binds now: the one that frees last, or has the fewest left.
    int bindingLane() const;

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    qint64 elapsedMs() const { return m_sinceSnapshot.elapsed(); }
    qint64 laneWindowMs(int lane) const;
    void paintLog(QPainter &p, const QRectF &area, int lane) const;
    void paintGcra(QPainter &p, const QRectF &area, int lane) const;
    void paintCounter(QPainter &p, const QRectF &area, int lane) const;
    QString laneTitle(int lane) const;

    QList<qint64> m_entries;
    qint64 m_total = 0;
    qint64 m_redisNowMs = 0;
    QElapsedTimer m_sinceSnapshot;
    int m_limit = 5;
    qint64 m_windowMs = 10000;
    RateAlgorithm m_algorithm = RateAlgorithm::SlidingLog;
    QList<RateLimitState> m_limits;
};

} // namespace Cachedash
