// SPDX-License-Identifier: GPL-3.0-or-later
#include "comparisondialog.h"

#include "outcomecolors.h"

#include <QDialogButtonBox>
#include <QHelpEvent>
#include <QLabel>
#include <QPainter>
#include <QToolTip>
#include <QVBoxLayout>

namespace Cachedash {

namespace {
constexpr RateAlgorithm Rows[]
    = {RateAlgorithm::SlidingLog, RateAlgorithm::Gcra, RateAlgorithm::SlidingWindowCounter};
constexpr double NameWidth = 190;
constexpr double RowHeight = 34;
constexpr double TopMargin = 8;
} // namespace

// The rows of dots, painted; a tooltip per dot.
class ComparisonGrid : public QWidget
{
public:
    explicit ComparisonGrid(QWidget *parent)
        : QWidget(parent)
    {
        setMinimumHeight(int(TopMargin + 3 * RowHeight + 22));
        setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    }

    QList<qint64> pattern;
    QList<ComparisonStep> steps;

    QSize sizeHint() const override { return {760, minimumHeight()}; }

    QPointF centerOf(int row, int request) const
    {
        const double cell = (width() - NameWidth - 10) / double(std::max<qsizetype>(1, pattern.size()));
        return {NameWidth + cell * (request + 0.5), TopMargin + RowHeight * (row + 0.5)};
    }
    double radius() const
    {
        const double cell = (width() - NameWidth - 10) / double(std::max<qsizetype>(1, pattern.size()));
        return std::clamp(cell * 0.38, 2.5, 8.0);
    }

protected:
    void paintEvent(QPaintEvent *) override
    {
        QPainter p(this);
        p.setRenderHint(QPainter::Antialiasing);
        const QPalette pal = palette();
        for (int row = 0; row < 3; ++row) {
            p.setPen(pal.color(QPalette::Text));
            p.drawText(QRectF(4, TopMargin + RowHeight * row, NameWidth - 8, RowHeight), Qt::AlignVCenter,
                algorithmName(Rows[row]));
            // Requests not decided yet: hollow.
            p.setPen(QPen(pal.color(QPalette::Mid), 1));
            p.setBrush(Qt::NoBrush);
            for (int i = 0; i < pattern.size(); ++i)
                p.drawEllipse(centerOf(row, i), radius(), radius());
        }
        for (const ComparisonStep &s : steps) {
            const int row = int(s.algorithm);
            p.setPen(QPen(pal.color(QPalette::Base), 1));
            p.setBrush(s.failed ? colorOf(Outcome::Error)
                    : s.allowed ? admittedColor()
                                : colorOf(Outcome::Limited));
            p.drawEllipse(centerOf(row, s.request), radius(), radius());
        }
        // Times under the columns: the burst, then every few requests.
        p.setPen(pal.color(QPalette::PlaceholderText));
        QFont small = font();
        small.setPointSizeF(small.pointSizeF() * 0.85);
        p.setFont(small);
        const double y = TopMargin + 3 * RowHeight + 2;
        qint64 lastLabelled = -1;
        double lastX = -1e9;
        for (int i = 0; i < pattern.size(); ++i) {
            const double x = centerOf(0, i).x();
            if (pattern[i] == lastLabelled || x - lastX < 44)
                continue;
            lastLabelled = pattern[i];
            lastX = x;
            p.drawText(QRectF(x - 22, y, 44, 16), Qt::AlignHCenter,
                QStringLiteral("%1 s").arg(double(pattern[i]) / 1000.0, 0, 'f', 1));
        }
    }

    bool event(QEvent *e) override
    {
        if (e->type() != QEvent::ToolTip)
            return QWidget::event(e);
        const QPoint at = static_cast<QHelpEvent *>(e)->pos();
        for (const ComparisonStep &s : steps) {
            if (QLineF(centerOf(int(s.algorithm), s.request), at).length() <= radius() + 2) {
                QToolTip::showText(static_cast<QHelpEvent *>(e)->globalPos(), ComparisonDialog::why(s), this);
                return true;
            }
        }
        QToolTip::hideText();
        e->ignore();
        return true;
    }
};

ComparisonDialog::ComparisonDialog(QWidget *parent)
    : QDialog(parent)
{
    setWindowTitle(tr("Compare algorithms"));
    setObjectName(QStringLiteral("comparisonDialog"));
    auto *layout = new QVBoxLayout(this);
    m_intro = new QLabel(this);
    m_intro->setWordWrap(true);
    layout->addWidget(m_intro);
    m_grid = new ComparisonGrid(this);
    m_grid->setAccessibleName(tr("Decisions of each algorithm"));
    m_grid->setAccessibleDescription(
        tr("A row per algorithm, a dot per request: dark grey admitted, red refused; "
           "hover a dot for the reason."));
    layout->addWidget(m_grid);
    m_summary = new QLabel(this);
    m_summary->setObjectName(QStringLiteral("comparisonSummary"));
    m_summary->setWordWrap(true);
    layout->addWidget(m_summary);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::close);
    layout->addWidget(buttons);
}

void ComparisonDialog::begin(const QList<RateLimit> &limits)
{
    m_grid->pattern = AlgorithmComparison::pattern(limits);
    m_grid->steps.clear();
    const RateLimit &first = limits.first();
    m_intro->setText(tr("The same requests against each algorithm, each in keys of its own "
                        "(<code>rate:compare:…</code>; not through HTTP, so the log does not show them). "
                        "Limits: <b>%1</b>. Pattern: %2 requests at once, then one every %3 s. "
                        "<b>sliding-log</b> counts every request of the last window exactly; <b>gcra</b> "
                        "spaces requests by W/N after a burst of N; <b>sliding-window-counter</b> weighs the "
                        "previous fixed window's count by how much of it the sliding window still covers.")
                         .arg(RateLimit::listText(limits).toHtmlEscaped())
                         .arg(first.limit + 1)
                         .arg(double(AlgorithmComparison::intervalMs(limits)) / 1000.0, 0, 'f', 1));
    m_summary->setText(tr("Sending…"));
    m_grid->update();
}

void ComparisonDialog::add(const ComparisonStep &step)
{
    m_grid->steps.append(step);
    m_grid->update();
    QStringList parts;
    for (RateAlgorithm a : Rows)
        parts << tr("%1 admitted <b>%2</b>").arg(algorithmName(a)).arg(admitted(a));
    m_summary->setText(parts.join(QStringLiteral(" · ")) + tr(" of %1 requests").arg(m_grid->pattern.size()));
}

void ComparisonDialog::finish()
{
    m_summary->setText(m_summary->text() + tr(". Done: hover a dot to see why."));
}

int ComparisonDialog::admitted(RateAlgorithm algorithm) const
{
    return int(std::count_if(m_grid->steps.begin(), m_grid->steps.end(),
        [algorithm](const ComparisonStep &s) { return s.algorithm == algorithm && s.allowed; }));
}

int ComparisonDialog::decisions() const
{
    return int(m_grid->steps.size());
}

QString ComparisonDialog::why(const ComparisonStep &s)
{
    const QString head = tr("Request %1 at %2 s, %3: ")
                             .arg(s.request + 1)
                             .arg(double(s.atMs) / 1000.0, 0, 'f', 1)
                             .arg(algorithmName(s.algorithm));
    if (s.failed)
        return head + tr("Redis could not decide.");
    if (s.allowed)
        return head + tr("admitted; %1 left in %2").arg(s.remaining).arg(s.binding.text());
    return head
        + tr("refused by %1; admitted again in %2 s")
              .arg(s.binding.text())
              .arg(double(s.waitMs) / 1000.0, 0, 'f', 1);
}

} // namespace Cachedash
