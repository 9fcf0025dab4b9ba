// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QObject>

class QSocketNotifier;

namespace Cachedash {

// Turns SIGINT and SIGTERM (and SIGHUP) into Qt signals on the event loop (the self-pipe pattern):
// the handler only writes one byte, and everything else happens in ordinary code.
class UnixSignalWatcher : public QObject
{
    Q_OBJECT

public:
    explicit UnixSignalWatcher(QObject *parent = nullptr);
    ~UnixSignalWatcher() override;

Q_SIGNALS:
    void terminationRequested(int signalNumber);
    // SIGHUP: read the configuration again.
    void reloadRequested();

private:
    void onReadable();

    QSocketNotifier *m_notifier = nullptr;
};

} // namespace Cachedash
