// SPDX-License-Identifier: GPL-3.0-or-later
#include "requestlogmodel.h"

#include <QDateTime>

namespace Cachedash {

RequestLogModel::RequestLogModel(int capacity, QObject *parent)
    : QAbstractTableModel(parent)
    , m_capacity(std::max(capacity, 1))
{ }

int RequestLogModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int RequestLogModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

int RequestLogModel::rowOf(quint64 id) const
{
    const auto it = m_working.constFind(id);
    if (it == m_working.cend())
        return -1;
    const quint64 row = m_inserted - 1 - *it;
    return row < m_rows.size() ? int(row) : -1;
}

void RequestLogModel::apply(const QList<RequestFeed::Event> &events)
{
    std::vector<Row> fresh; // oldest first
    QHash<quint64, size_t> freshIndex;
    for (const RequestFeed::Event &event : events) {
        if (event.finished) {
            if (const auto it = freshIndex.constFind(event.record.id); it != freshIndex.cend()) {
                fresh[*it] = Row{event.record, true};
                continue;
            }
            const int row = rowOf(event.record.id);
            if (row >= 0) {
                m_working.remove(event.record.id);
                m_rows[size_t(row)] = Row{event.record, true};
                Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
                continue;
            }
        }
        freshIndex.insert(event.record.id, fresh.size());
        fresh.push_back(Row{event.record, event.finished});
    }
    if (!fresh.empty())
        insertRows(std::move(fresh));
}

void RequestLogModel::insertRows(std::vector<Row> rows)
{
    // Only the newest rows of the batch are shown (a person reads a few per second anyway), but a
    // request still in flight is never dropped, so that its row can finish.
    const size_t keep = size_t(std::min(m_capacity, m_maxRowsPerBatch));
    if (rows.size() > keep) {
        std::vector<Row> kept;
        kept.reserve(keep);
        const size_t cut = rows.size() - keep;
        for (size_t i = 0; i < rows.size(); ++i) {
            if (i >= cut || !rows[i].finished)
                kept.push_back(std::move(rows[i]));
            else
                ++m_skipped;
        }
        rows = std::move(kept);
    }
    if (rows.size() > size_t(m_capacity)) {
        m_skipped += rows.size() - size_t(m_capacity);
        rows.erase(rows.begin(), rows.end() - m_capacity);
    }
    const int incoming = int(rows.size());
    const int overflow = int(m_rows.size()) + incoming - m_capacity;
    if (overflow > 0) {
        const int first = int(m_rows.size()) - overflow;
        beginRemoveRows({}, first, int(m_rows.size()) - 1);
        for (auto it = m_rows.end() - overflow; it != m_rows.end(); ++it) {
            if (!it->finished)
                m_working.remove(it->record.id);
        }
        m_rows.erase(m_rows.end() - overflow, m_rows.end());
        endRemoveRows();
    }
    beginInsertRows({}, 0, incoming - 1);
    for (Row &row : rows) {
        if (!row.finished)
            m_working.insert(row.record.id, m_inserted);
        ++m_inserted;
        m_rows.push_front(std::move(row)); // the batch is oldest first, so the newest ends on top
    }
    endInsertRows();
}

void RequestLogModel::clear()
{
    beginResetModel();
    m_rows.clear();
    m_working.clear();
    endResetModel();
}

QVariant RequestLogModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(m_rows.size()))
        return {};
    const Row &row = m_rows[size_t(index.row())];
    const RequestRecord &r = row.record;
    switch (role) {
    case OutcomeRole: return QVariant::fromValue(row.finished ? r.outcome : Cachedash::Outcome::None);
    case InFlightRole: return !row.finished;
    case LatencyRole: return r.latencyMs;
    case RecordIdRole: return r.id;
    case Qt::TextAlignmentRole:
        if (index.column() == Status || index.column() == Latency || index.column() == RetryAfter)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    case Qt::DisplayRole: break;
    default: return {};
    }
    switch (index.column()) {
    case Time:
        return QDateTime::fromMSecsSinceEpoch(r.startedMsSinceEpoch).toString(QStringLiteral("HH:mm:ss.zzz"));
    case Client: return r.client;
    case Method: return QString::fromLatin1(r.method);
    case Path: return r.path;
    case Status: return row.finished ? QVariant(r.status) : QVariant(QStringLiteral("…"));
    case Outcome:
        return row.finished ? QString::fromLatin1(outcomeName(r.outcome)) : QStringLiteral("computing…");
    case Latency:
        return row.finished ? QStringLiteral("%1 ms").arg(r.latencyMs, 0, 'f', r.latencyMs < 10 ? 2 : 1)
                            : QString();
    case RetryAfter:
        return r.retryAfterSeconds > 0 ? QStringLiteral("%1 s").arg(r.retryAfterSeconds) : QString();
    }
    return {};
}

QVariant RequestLogModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Time: return tr("Time");
    case Client: return tr("Client");
    case Method: return tr("Method");
    case Path: return tr("Path");
    case Status: return tr("Status");
    case Outcome: return tr("Outcome");
    case Latency: return tr("Latency");
    case RetryAfter: return tr("Retry-After");
    }
    return {};
}

} // namespace Cachedash
