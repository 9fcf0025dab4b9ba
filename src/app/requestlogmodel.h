// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "requestfeed.h"

#include <QAbstractTableModel>

#include <deque>

namespace Cachedash {

// Every request the server handled, newest first, bounded: past capacity() the oldest rows go, so
// memory stays flat however long the window runs. A request still being computed is a row that
// updates in place when it finishes.
class RequestLogModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column { Time, Client, Method, Path, Status, Outcome, Latency, RetryAfter, ColumnCount };
    enum Role {
        OutcomeRole = Qt::UserRole + 1, // QByteArray: HIT, MISS, ..., or "WORKING" while in flight
        LatencyRole, // double, milliseconds
        RecordIdRole, // quint64
    };

    explicit RequestLogModel(int capacity = 10000, QObject *parent = nullptr);

    int capacity() const { return m_capacity; }

    // Applies a batch from RequestFeed::take(): new rows on top, finished ones updated in place.
    void apply(const QList<RequestFeed::Event> &events);
    void clear();

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    struct Row
    {
        RequestRecord record;
        bool finished = false;
    };

    void insertRows(std::vector<Row> rows);
    int rowOf(quint64 id) const;

    const int m_capacity;
    std::deque<Row> m_rows; // front = newest
};

} // namespace Cachedash
