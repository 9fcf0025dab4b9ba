// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisserverprocess.h"

#include <QProcess>
#include <QStandardPaths>
#include <QTcpServer>

#include <csignal>
#include <sys/prctl.h>

namespace Cachedash {

namespace {
quint16 pickPort()
{
    QTcpServer probe;
    if (probe.listen(QHostAddress::LocalHost, 6379))
        return 6379;
    if (probe.listen(QHostAddress::LocalHost, 0))
        return probe.serverPort();
    return 0;
}
} // namespace

RedisServerProcess::RedisServerProcess(QObject *parent)
    : QObject(parent)
{ }

RedisServerProcess::~RedisServerProcess()
{
    stop();
}

QString RedisServerProcess::binary()
{
    return QStandardPaths::findExecutable(QStringLiteral("redis-server"));
}

bool RedisServerProcess::start()
{
    const QString program = binary();
    if (program.isEmpty()) {
        m_error = QStringLiteral("redis-server is not installed (Debian: apt-get install redis-server)");
        return false;
    }
    m_dir = std::make_unique<QTemporaryDir>(QDir::tempPath() + QStringLiteral("/cachedash-redis-XXXXXX"));
    if (!m_dir->isValid()) {
        m_error = QStringLiteral("cannot create a temporary directory: ") + m_dir->errorString();
        return false;
    }
    m_port = pickPort();
    if (m_port == 0) {
        m_error = QStringLiteral("no free loopback port for redis-server");
        return false;
    }
    m_process = new QProcess(this);
    m_process->setProcessChannelMode(QProcess::MergedChannels);
    m_process->setWorkingDirectory(m_dir->path());
    // Dies with us, whatever kills us.
    m_process->setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGTERM); });
    m_process->start(program,
        {QStringLiteral("--port"), QString::number(m_port), QStringLiteral("--bind"),
            QStringLiteral("127.0.0.1"), QStringLiteral("--protected-mode"), QStringLiteral("yes"),
            QStringLiteral("--save"), QString(), QStringLiteral("--appendonly"), QStringLiteral("no"),
            QStringLiteral("--dir"), m_dir->path(), QStringLiteral("--daemonize"), QStringLiteral("no"),
            QStringLiteral("--loglevel"), QStringLiteral("warning")});
    if (!m_process->waitForStarted(3000)) {
        m_error = QStringLiteral("redis-server did not start: ") + m_process->errorString();
        return false;
    }
    return true;
}

void RedisServerProcess::stop()
{
    if (!m_process || m_process->state() == QProcess::NotRunning)
        return;
    m_process->terminate();
    if (!m_process->waitForFinished(3000)) {
        m_process->kill();
        m_process->waitForFinished(1000);
    }
}

bool RedisServerProcess::isRunning() const
{
    return m_process && m_process->state() == QProcess::Running;
}

RedisUrl RedisServerProcess::url() const
{
    RedisUrl url;
    url.host = QStringLiteral("127.0.0.1");
    url.port = m_port;
    return url;
}

qint64 RedisServerProcess::pid() const
{
    return m_process ? m_process->processId() : 0;
}

QString RedisServerProcess::output() const
{
    return m_process ? QString::fromLocal8Bit(m_process->readAll()).trimmed().right(400) : QString();
}

} // namespace Cachedash
