// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArrayList>
#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>

#include <memory>

struct redisContext;

namespace Cachedash::Test {

// A private redis-server for one test: a temporary directory, a free loopback port, a unix socket,
// no persistence. Stopped by the destructor, and killed by the kernel if the test process dies.
class TestRedisServer
{
public:
    TestRedisServer();
    ~TestRedisServer();
    TestRedisServer(const TestRedisServer &) = delete;
    TestRedisServer &operator=(const TestRedisServer &) = delete;

    // Starts the server (extra arguments are appended to its command line) and waits until it
    // answers PING. On failure returns false with a message naming the reason; a missing
    // redis-server names the Debian package.
    bool start(const QStringList &extraArgs = {});
    // Starts a Sentinel (redis-server --sentinel) with `config` as its configuration file, which
    // it rewrites as it learns; the same ports, directory and lifetime as a server.
    bool startSentinel(const QByteArray &config, const QStringList &extraArgs = {});
    // Starts again on the same port and socket, with the same arguments.
    bool restart();
    // SIGTERM and wait.
    void stop();
    // SIGKILL, no goodbye.
    void kill();
    bool isRunning() const;

    QString errorString() const { return m_error; }
    quint16 port() const { return m_port; }
    QString socketPath() const;
    // redis://127.0.0.1:PORT (with the password given through setPassword()).
    QString url() const;
    qint64 pid() const;

    // Sets the password that url() and command() use (the server's own comes from extraArgs).
    void setPassword(const QString &password) { m_password = password; }

    // Runs one command over a fresh synchronous connection and renders the reply redis-cli style:
    // strings as-is, integers as digits, nil as "(nil)", errors as "(error) ...", arrays joined by
    // newlines. Returns "(failure) ..." when the server cannot be reached.
    QByteArray command(const QByteArrayList &args) const;
    // A field of INFO, e.g. info("commandstats", "cmdstat_get") -> "calls=3,usec=...".
    QByteArray info(const QByteArray &section, const QByteArray &field) const;
    // The "calls" count of INFO commandstats for one command (lower case, e.g. "evalsha").
    qint64 commandCalls(const QByteArray &command) const;

    // A loopback port that was free when asked (0 if none).
    static quint16 freeLoopbackPort();
    // The redis-server binary found on PATH, or empty.
    static QString serverBinary();

private:
    bool launch();
    bool waitUntilAnswering(int timeoutMs);

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QProcess> m_process;
    QStringList m_extraArgs;
    QString m_sentinelConfig; // the configuration file, for a Sentinel
    QString m_error;
    QString m_password;
    quint16 m_port = 0;
};

} // namespace Cachedash::Test
