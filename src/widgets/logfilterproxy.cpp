// SPDX-License-Identifier: GPL-3.0-or-later
#include "logfilterproxy.h"

#include "requestlogmodel.h"

#include <QColor>
#include <QFont>

namespace Cachedash {

LogFilterProxy::LogFilterProxy(QObject *parent)
    : QSortFilterProxyModel(parent)
{ }

void LogFilterProxy::setOutcome(const QByteArray &outcome)
{
    m_outcome = outcome;
    invalidateFilter();
}

QColor LogFilterProxy::colorFor(const QByteArray &outcome)
{
    if (outcome == "HIT")
        return QColor(0x2e, 0x8b, 0x57);
    if (outcome == "MISS")
        return QColor(0xf0, 0x9a, 0x1a);
    if (outcome == "STALE")
        return QColor(0x1f, 0x9e, 0xa8);
    if (outcome == "BYPASS")
        return QColor(0x80, 0x60, 0xc0);
    if (outcome == "LIMITED")
        return QColor(0xd9, 0x48, 0x3b);
    if (outcome == "ERROR")
        return QColor(0x9b, 0x1c, 0x1c);
    if (outcome == "WORKING")
        return QColor(0x3a, 0x7b, 0xd5);
    return {};
}

QVariant LogFilterProxy::data(const QModelIndex &index, int role) const
{
    if (role == Qt::BackgroundRole) {
        QColor tint
            = colorFor(QSortFilterProxyModel::data(index, RequestLogModel::OutcomeRole).toByteArray());
        if (!tint.isValid())
            return {};
        tint.setAlpha(index.column() == RequestLogModel::Outcome ? 110 : 38);
        return tint;
    }
    if (role == Qt::FontRole && index.column() == RequestLogModel::Outcome) {
        QFont bold;
        bold.setBold(true);
        return bold;
    }
    return QSortFilterProxyModel::data(index, role);
}

bool LogFilterProxy::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    if (m_outcome.isEmpty())
        return true;
    const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
    return index.data(RequestLogModel::OutcomeRole).toByteArray() == m_outcome;
}

} // namespace Cachedash
