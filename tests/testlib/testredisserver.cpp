// SPDX-License-Identifier: GPL-3.0-or-later
#include "testredisserver.h"

#include <QDeadlineTimer>
#include <QFile>
#include <QHostAddress>
#include <QStandardPaths>
#include <QTcpServer>
#include <QThread>

#include <hiredis/hiredis.h>

#include <csignal>
#include <sys/prctl.h>

namespace Cachedash::Test {

namespace {

QByteArray render(const redisReply *reply)
{
    switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: return QByteArray(reply->str, qsizetype(reply->len));
    case REDIS_REPLY_ERROR:
        return QByteArrayLiteral("(error) ") + QByteArray(reply->str, qsizetype(reply->len));
    case REDIS_REPLY_INTEGER: return QByteArray::number(reply->integer);
    case REDIS_REPLY_NIL: return QByteArrayLiteral("(nil)");
    case REDIS_REPLY_ARRAY: {
        QByteArrayList parts;
        for (size_t i = 0; i < reply->elements; ++i)
            parts << render(reply->element[i]);
        return parts.join('\n');
    }
    }
    return QByteArrayLiteral("(unknown)");
}

} // namespace

TestRedisServer::TestRedisServer() = default;

TestRedisServer::~TestRedisServer()
{
    stop();
}

QString TestRedisServer::serverBinary()
{
    return QStandardPaths::findExecutable(QStringLiteral("redis-server"));
}

quint16 TestRedisServer::freeLoopbackPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

bool TestRedisServer::start(const QStringList &extraArgs)
{
    if (serverBinary().isEmpty()) {
        m_error = QStringLiteral("redis-server is not installed: apt-get install redis-server");
        return false;
    }
    if (m_sentinelConfig.isEmpty() || !m_dir) // a Sentinel's configuration is in its directory already
        m_dir = std::make_unique<QTemporaryDir>();
    if (!m_dir->isValid()) {
        m_error = QStringLiteral("cannot create a temporary directory: ") + m_dir->errorString();
        return false;
    }
    m_extraArgs = extraArgs;
    // The port is free when probed but could be taken before redis binds it: try a few.
    for (int attempt = 0; attempt < 5; ++attempt) {
        m_port = freeLoopbackPort();
        if (m_port != 0 && launch())
            return true;
    }
    return false;
}

bool TestRedisServer::startSentinel(const QByteArray &config, const QStringList &extraArgs)
{
    m_dir = std::make_unique<QTemporaryDir>();
    if (!m_dir->isValid()) {
        m_error = QStringLiteral("cannot create a temporary directory: ") + m_dir->errorString();
        return false;
    }
    QFile file(m_dir->filePath(QStringLiteral("sentinel.conf")));
    if (!file.open(QIODevice::WriteOnly) || file.write(config) != config.size()) {
        m_error = QStringLiteral("cannot write %1: %2").arg(file.fileName(), file.errorString());
        return false;
    }
    file.close();
    m_sentinelConfig = file.fileName();
    return start(extraArgs);
}

bool TestRedisServer::restart()
{
    stop();
    return launch();
}

bool TestRedisServer::launch()
{
    m_process = std::make_unique<QProcess>();
    m_process->setProcessChannelMode(QProcess::MergedChannels);
    m_process->setWorkingDirectory(m_dir->path());
    // If the test process dies, so does its server: no orphan keeps the port.
    m_process->setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGKILL); });
    QStringList args;
    if (!m_sentinelConfig.isEmpty())
        args << m_sentinelConfig << QStringLiteral("--sentinel");
    args << QStringList{QStringLiteral("--port"), QString::number(m_port), QStringLiteral("--bind"),
        QStringLiteral("127.0.0.1"), QStringLiteral("--unixsocket"), socketPath(),
        QStringLiteral("--unixsocketperm"), QStringLiteral("700"), QStringLiteral("--save"), QString(),
        QStringLiteral("--appendonly"), QStringLiteral("no"), QStringLiteral("--dir"), m_dir->path(),
        QStringLiteral("--daemonize"), QStringLiteral("no"), QStringLiteral("--enable-debug-command"),
        QStringLiteral("yes"), QStringLiteral("--loglevel"), QStringLiteral("warning")};
    args += m_extraArgs;
    m_process->start(serverBinary(), args);
    if (!m_process->waitForStarted(5000)) {
        m_error = QStringLiteral("redis-server did not start: ") + m_process->errorString();
        return false;
    }
    if (!waitUntilAnswering(5000)) {
        const QByteArray output = m_process->readAll();
        m_error = QStringLiteral("redis-server on port %1 did not answer PING: %2")
                      .arg(m_port)
                      .arg(QString::fromLocal8Bit(output.right(500)));
        stop();
        return false;
    }
    return true;
}

bool TestRedisServer::waitUntilAnswering(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (!deadline.hasExpired()) {
        if (!m_process || m_process->state() != QProcess::Running)
            return false;
        const QByteArray pong = command({QByteArrayLiteral("PING")});
        // A password-protected server answers NOAUTH before the test has set the password.
        if (pong == "PONG" || pong.startsWith("(error) NOAUTH"))
            return true;
        QThread::msleep(20);
    }
    return false;
}

void TestRedisServer::stop()
{
    if (!m_process)
        return;
    if (m_process->state() != QProcess::NotRunning) {
        m_process->terminate();
        if (!m_process->waitForFinished(5000)) {
            m_process->kill();
            m_process->waitForFinished(2000);
        }
    }
    m_process.reset();
}

void TestRedisServer::kill()
{
    if (!m_process)
        return;
    m_process->kill();
    m_process->waitForFinished(5000);
    m_process.reset();
}

bool TestRedisServer::isRunning() const
{
    return m_process && m_process->state() == QProcess::Running;
}

QString TestRedisServer::socketPath() const
{
    return m_dir ? m_dir->filePath(QStringLiteral("redis.sock")) : QString();
}

QString TestRedisServer::url() const
{
    if (m_password.isEmpty())
        return QStringLiteral("redis://127.0.0.1:%1").arg(m_port);
    return QStringLiteral("redis://:%1@127.0.0.1:%2").arg(m_password).arg(m_port);
}

qint64 TestRedisServer::pid() const
{
    return m_process ? m_process->processId() : 0;
}

QByteArray TestRedisServer::command(const QByteArrayList &args) const
{
    const timeval timeout{5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", m_port, timeout);
    if (!c || c->err) {
        const QByteArray why = c ? QByteArray(c->errstr) : QByteArrayLiteral("out of memory");
        if (c)
            redisFree(c);
        return QByteArrayLiteral("(failure) ") + why;
    }
    redisSetTimeout(c, timeout);
    auto run = [c](const QByteArrayList &argv) -> QByteArray {
        QList<const char *> ptrs;
        QList<size_t> lens;
        for (const QByteArray &a : argv) {
            ptrs << a.constData();
            lens << size_t(a.size());
        }
        auto *reply
            = static_cast<redisReply *>(redisCommandArgv(c, int(argv.size()), ptrs.data(), lens.data()));
        if (!reply)
            return QByteArrayLiteral("(failure) ") + QByteArray(c->errstr);
        QByteArray out = render(reply);
        freeReplyObject(reply);
        return out;
    };
    QByteArray out;
    if (!m_password.isEmpty())
        out = run({QByteArrayLiteral("AUTH"), m_password.toUtf8()});
    if (!out.startsWith("(error)") && !out.startsWith("(failure)"))
        out = run(args);
    redisFree(c);
    return out;
}

QByteArray TestRedisServer::info(const QByteArray &section, const QByteArray &field) const
{
    const QByteArray text = command({QByteArrayLiteral("INFO"), section});
    for (const QByteArray &line : text.split('\n')) {
        if (line.startsWith(QByteArray(field + ':')))
            return line.mid(field.size() + 1).trimmed();
    }
    return {};
}

qint64 TestRedisServer::commandCalls(const QByteArray &command) const
{
    const QByteArray stats = info(QByteArrayLiteral("commandstats"), QByteArrayLiteral("cmdstat_") + command);
    // calls=3,usec=20,usec_per_call=6.67,...
    for (const QByteArray &part : stats.split(',')) {
        if (part.startsWith("calls="))
            return part.mid(6).toLongLong();
    }
    return 0;
}

} // namespace Cachedash::Test
