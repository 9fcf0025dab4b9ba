// SPDX-License-Identifier: GPL-3.0-or-later
#include "logfilterproxy.h"

#include "outcomecolors.h"

#include "app/requestlogmodel.h"

#include <QFont>

namespace Cachedash {

LogFilterProxy::LogFilterProxy(QObject *parent)
    : QSortFilterProxyModel(parent)
{ }

void LogFilterProxy::setOutcome(std::optional<Outcome> outcome)
{
    m_outcome = outcome;
    invalidateFilter();
}

QVariant LogFilterProxy::data(const QModelIndex &index, int role) const
{
    if (role == Qt::BackgroundRole) {
        QColor tint = QSortFilterProxyModel::data(index, RequestLogModel::InFlightRole).toBool()
            ? inFlightColor()
            : colorOf(QSortFilterProxyModel::data(index, RequestLogModel::OutcomeRole).value<Outcome>());
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
    if (!m_outcome)
        return true;
    const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
    if (index.data(RequestLogModel::InFlightRole).toBool())
        return false;
    const Outcome outcome = index.data(RequestLogModel::OutcomeRole).value<Outcome>();
    // Refreshes are one family: those that invalidated and those that found nothing.
    const auto family = [](Outcome o) { return o == Outcome::NotCached ? Outcome::Invalidated : o; };
    return family(outcome) == family(*m_outcome);
}

} // namespace Cachedash
