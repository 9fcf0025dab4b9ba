// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redis/redisurl.h"

#include <QObject>
#include <QTemporaryDir>

#include <memory>

class QProcess;

namespace Cachedash {

// A private redis-server for this process: loopback only, no persistence, its files in a temporary
// directory. It prefers port 6379 when that is free, so that redis-cli works without flags, and
// takes any free port otherwise. The kernel stops it when cachedash dies, even by SIGKILL.
class RedisServerProcess : public QObject
{
    Q_OBJECT

public:
    explicit RedisServerProcess(QObject *parent = nullptr);
    ~RedisServerProcess() override;

    // Launches the server; false with errorString() when it cannot be started (for instance when
    // redis-server is not installed). Readiness is the client's to wait for.
    bool start();
    void stop();
    bool isRunning() const;

    RedisUrl url() const;
    qint64 pid() const;
    QString errorString() const { return m_error; }
    // The server's last words, when it exited early.
    QString output() const;

    static QString binary();

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    QProcess *m_process = nullptr;
    quint16 m_port = 0;
    QString m_error;
};

} // namespace Cachedash
