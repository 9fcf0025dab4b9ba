// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "app/algorithmcomparison.h"

#include <QDialog>

class QLabel;

namespace Cachedash {

class ComparisonGrid;

// "Compare algorithms": the same pattern of requests against sliding-log, gcra and
// sliding-window-counter, one row each, a dot per request (admitted or refused) filled in as the
// decisions come; hovering a dot says why.
class ComparisonDialog : public QDialog
{
    Q_OBJECT

public:
    explicit ComparisonDialog(QWidget *parent = nullptr);

    // A new comparison of `limits`: clears the rows.
    void begin(const QList<RateLimit> &limits);
    void add(const ComparisonStep &step);
    void finish();

    // Requests each algorithm admitted so far (by RateAlgorithm), and the decisions received.
    int admitted(RateAlgorithm algorithm) const;
    int decisions() const;
    // Why a decision went as it did, as its tooltip says it.
    static QString why(const ComparisonStep &step);

private:
    QLabel *m_intro = nullptr;
    QLabel *m_summary = nullptr;
    ComparisonGrid *m_grid = nullptr;
};

} // namespace Cachedash
