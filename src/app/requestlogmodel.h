// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "requestfeed.h"

#include <QAbstractTableModel>

#include <QHash>

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
        OutcomeRole = Qt::UserRole + 1, // Cachedash::Outcome; None while in flight
        InFlightRole, // bool: the request is still being answered
        LatencyRole, // double, milliseconds
        RecordIdRole, // quint64
    };

    explicit RequestLogModel(int capacity = 10000, QObject *parent = nullptr);

    int capacity() const { return m_capacity; }
    // At most this many new rows per apply(); under a flood the newest are kept and the rest only
    // counted (the totals come from RequestFeed and stay exact).
    void setMaxRowsPerBatch(int rows) { m_maxRowsPerBatch = std::max(rows, 1); }
    quint64 skipped() const { return m_skipped; }

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
    int m_maxRowsPerBatch = 1000;
    quint64 m_skipped = 0;
    std::deque<Row> m_rows; // front = newest
    quint64 m_inserted = 0; // rows ever inserted: the row of insertion n is m_inserted - 1 - n
    QHash<quint64, quint64> m_working; // request id -> insertion number, for rows still in flight
};

} // namespace Cachedash
