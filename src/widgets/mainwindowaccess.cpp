// SPDX-License-Identifier: GPL-3.0-or-later
// The window for screen readers and the keyboard: an accessible name and description for every
// control and panel, the order Tab takes, and the shortcuts the labels show.
#include "mainwindow.h"

#include "latencychart.h"
#include "limiterwindowwidget.h"

#include "ui_mainwindow.h"

#include <QShortcut>
#include <QToolButton>

namespace Cachedash {

void MainWindow::setUpAccess()
{
    struct Described
    {
        QWidget *widget;
        QString name;
        QString description;
    };
    const Described described[] = {
        {m_ui->copyCurlButton, tr("Copy curl command"),
            tr("Copies a curl command for the selected region's report (Ctrl+Shift+C).")},
        {m_ui->settingsButton, tr("Service settings"),
            tr("Report time, cache TTL and the rate limits, applied to the running service (Ctrl+,).")},
        {m_ui->regionCombo, tr("Region"), tr("The region whose report the buttons fetch and refresh.")},
        {m_ui->fetchButton, tr("Fetch"), tr("GET /reports/{region} once (F5).")},
        {m_ui->refreshButton, tr("Refresh"),
            tr("POST /reports/{region}/refresh: invalidates the cached report (F6).")},
        {m_ui->burstButton, tr("Burst"),
            tr("Sends the number of GETs beside it in a row, to meet the rate limiter (F7).")},
        {m_ui->burstSpin, tr("Burst size"), tr("How many GETs a burst sends.")},
        {m_ui->scenariosButton, tr("Scenarios"),
            tr("Stampede, refresh during a fill, Redis outage, compare algorithms (F8 opens the menu).")},
        {m_ui->requestGroup, tr("Send requests"), tr("Buttons that send requests to the service.")},
        {m_ui->cacheGroup, tr("Cache-aside"),
            tr("The selected region's report in Redis: its key, TTL and counters.")},
        {m_ui->ttlBar, tr("Time to live"), tr("What is left of the cached report's TTL in Redis.")},
        {m_ui->cacheHelpLabel, tr("Last request explained"),
            tr("What happened to the latest request, and when.")},
        {m_ui->limiterGroup, tr("Rate limiter"), tr("This window's client's limits, as Redis keeps them.")},
        {m_ui->limiterView, tr("Limiter state"),
            tr("A lane per limit: the entries of the sliding log, GCRA's theoretical arrival time, or the "
               "counter's windows.")},
        {m_ui->limiterLabel, tr("Limiter summary"), tr("How much of the binding limit is used now.")},
        {m_ui->latencyChart, tr("Latency chart"),
            tr("Each request's latency, log scale, over the last two minutes, by outcome.")},
        {m_ui->filterButtons, tr("Outcome filters"), tr("Show only the requests with one outcome.")},
        {m_ui->logView, tr("Request log"), tr("Every request the service answered, newest first.")},
    };
    for (const Described &d : described) {
        d.widget->setAccessibleName(d.name);
        d.widget->setAccessibleDescription(d.description);
    }
    for (QToolButton *filter : m_ui->filterButtons->findChildren<QToolButton *>()) {
        filter->setAccessibleName(tr("Show %1").arg(filter->text()));
        filter->setAccessibleDescription(tr("Filters the request log."));
    }

    m_ui->copyCurlButton->setToolTip(m_ui->copyCurlButton->toolTip() + tr(" (Ctrl+Shift+C)"));
    m_ui->settingsButton->setToolTip(m_ui->settingsButton->toolTip() + tr(" (Ctrl+,)"));
    new QShortcut(QKeySequence(Qt::Key_F8), this, this, [this] { m_ui->scenariosButton->showMenu(); });
    new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma), this, this, &MainWindow::editSettings);
    new QShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C), this, this, &MainWindow::copyCurl);

    // Tab goes down the controls, then to the top bar, the filters and the log.
    QList<QWidget *> order{m_ui->regionCombo, m_ui->fetchButton, m_ui->refreshButton, m_ui->burstButton,
        m_ui->burstSpin, m_ui->scenariosButton, m_ui->copyCurlButton, m_ui->settingsButton};
    for (QToolButton *filter : m_ui->filterButtons->findChildren<QToolButton *>()) {
        filter->setFocusPolicy(Qt::StrongFocus);
        order << filter;
    }
    order << m_ui->logView;
    for (qsizetype i = 1; i < order.size(); ++i)
        setTabOrder(order[i - 1], order[i]);
    m_ui->scenariosButton->setFocusPolicy(Qt::StrongFocus);
}

QList<QWidget *> MainWindow::tabOrder() const
{
    QList<QWidget *> order;
    QWidget *first = m_ui->regionCombo;
    for (QWidget *w = first;;) {
        order << w;
        w = w->nextInFocusChain();
        while (w != first
            && (!(w->focusPolicy() & Qt::TabFocus) || !w->isVisibleTo(const_cast<MainWindow *>(this))
                || !w->isEnabled()))
            w = w->nextInFocusChain();
        if (w == first || order.size() > 200)
            break;
    }
    return order;
}

} // namespace Cachedash
