// SPDX-License-Identifier: GPL-3.0-or-later
#include "testwait.h"

#include <QDeadlineTimer>
#include <QEventLoop>
#include <QTimer>

#include <chrono>

namespace Cachedash::Test {

qint64 monotonicUs()
{
    using namespace std::chrono;
    return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

bool waitUntil(const std::function<bool()> &done, qint64 timeoutMs)
{
    if (done())
        return true;
    QEventLoop loop;
    QTimer poll;
    poll.setTimerType(Qt::PreciseTimer);
    poll.setInterval(1);
    const QDeadlineTimer deadline(timeoutMs, Qt::PreciseTimer);
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (done() || deadline.hasExpired())
            loop.quit();
    });
    poll.start();
    loop.exec();
    return done();
}

void runEventsUntil(qint64 momentUs)
{
    waitUntil([momentUs] { return monotonicUs() >= momentUs; }, (momentUs - monotonicUs()) / 1000 + 1000);
}

} // namespace Cachedash::Test
