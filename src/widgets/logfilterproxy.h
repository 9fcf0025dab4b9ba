// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QSortFilterProxyModel>

namespace Cachedash {

// The request log as shown: filtered by outcome, each row tinted by its outcome (translucent
// tints, readable on light and dark palettes).
class LogFilterProxy : public QSortFilterProxyModel
{
    Q_OBJECT

public:
    explicit LogFilterProxy(QObject *parent = nullptr);

    // Empty: every outcome.
    void setOutcome(const QByteArray &outcome);
    QByteArray outcome() const { return m_outcome; }

    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;

    static QColor colorFor(const QByteArray &outcome);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QByteArray m_outcome;
};

} // namespace Cachedash
