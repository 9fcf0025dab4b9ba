// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QElapsedTimer>
#include <QList>
#include <QWidget>

namespace Cachedash {

// The limiter's sorted set as a picture: the last `window` on a timeline that slides left, one dot
// per admitted request (the real entries, at their real times), the slots used, and the countdown
// until the oldest entry leaves the window and gives a slot back: the honest Retry-After.
class LimiterWindowWidget : public QWidget
{
    Q_OBJECT

public:
    explicit LimiterWindowWidget(QWidget *parent = nullptr);

    // Entries are admission times in ms by Redis's clock (oldest first, possibly only the oldest and
    // the newest of `total`), `redisNowMs` that clock when read.
    void setWindow(const QList<qint64> &entries, qint64 total, qint64 redisNowMs, int limit, qint64 windowMs);

    // Redis's "now", moved on by the time since the last snapshot.
    qint64 nowMs() const;
    // Entries still inside the window at nowMs().
    int used() const;
    // Until the oldest entry leaves; 0 when a slot is free.
    qint64 nextSlotInMs() const;

    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QList<qint64> m_entries;
    qint64 m_total = 0;
    qint64 m_redisNowMs = 0;
    QElapsedTimer m_sinceSnapshot;
    int m_limit = 5;
    qint64 m_windowMs = 10000;
};

} // namespace Cachedash
