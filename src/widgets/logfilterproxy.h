// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "api/outcome.h"

#include <QSortFilterProxyModel>

#include <optional>

namespace Cachedash {

// The request log as shown: filtered by outcome, each row tinted by its outcome (translucent
// tints, readable on light and dark palettes).
class LogFilterProxy : public QSortFilterProxyModel
{
    Q_OBJECT

public:
    explicit LogFilterProxy(QObject *parent = nullptr);

    // Nothing: every outcome. Invalidated (or NotCached) shows every refresh.
    void setOutcome(std::optional<Outcome> outcome);
    std::optional<Outcome> outcome() const { return m_outcome; }

    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    std::optional<Outcome> m_outcome;
};

} // namespace Cachedash
