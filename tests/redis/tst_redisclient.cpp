// SPDX-License-Identifier: GPL-3.0-or-later
#include "redis/redisclient.h"
#include "testlib/testredisserver.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTest>

#include <qcoro/qcorotask.h>

#include <optional>

using namespace std::chrono_literals;
using Cachedash::RedisClient;
using Cachedash::RedisPendingReply;
using Cachedash::RedisReply;
using Cachedash::RedisScript;
using Cachedash::RedisUrl;
using Cachedash::Test::TestRedisServer;

namespace {

RedisUrl urlOf(const QString &text)
{
    return RedisUrl::parse(text).value();
}

// Waits for one pending reply, spinning the event loop.
RedisReply await(RedisPendingReply pending)
{
    return QCoro::waitFor(pending);
}

} // namespace

class tst_RedisClient : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void replyTypes();
    void binarySafeKeysAndValues();
    void largeValue();
    void setOptions();
    void backToBackCommandsCompleteInOrder();
    void commandsBeforeReadyQueueBehindTheConnection();
    void commandTimeout();
    void serverKilledFailsPendingCommandsPromptly();
    void reconnectsAfterRestart();
    void connectionRefusedThenServerAppears();
    void scriptReloadedAfterFlush();
    void passwordAuth();
    void aclUserAuth();
    void wrongPasswordIsReported();
    void selectDatabase();
    void unixSocket();
    void closeCompletesPendingCommands();
    void destructorCompletesPendingCommands();
    void beforeNextWriteJoinsTheWrite();
    void beforeNextWriteWithoutConnection();

private:
    std::unique_ptr<RedisClient> readyClient(const QString &url, RedisClient::Options options = {});

    TestRedisServer m_server;
};

void tst_RedisClient::initTestCase()
{
    QVERIFY2(m_server.start(), qPrintable(m_server.errorString()));
}

void tst_RedisClient::init()
{
    if (!m_server.isRunning())
        QVERIFY2(m_server.restart(), qPrintable(m_server.errorString()));
    QCOMPARE(m_server.command({"FLUSHALL"}), QByteArray("OK"));
}

void tst_RedisClient::cleanup()
{
    m_server.command({"CLIENT", "UNPAUSE"});
}

std::unique_ptr<RedisClient> tst_RedisClient::readyClient(const QString &url, RedisClient::Options options)
{
    auto client = std::make_unique<RedisClient>(urlOf(url), options);
    client->open();
    if (!QCoro::waitFor(client->waitForReady(5s)))
        return nullptr;
    return client;
}

void tst_RedisClient::replyTypes()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);

    const RedisReply pong = await(client->ping());
    QVERIFY(pong.isStatus());
    QCOMPARE(pong.bytes(), QByteArray("PONG"));

    QVERIFY(await(client->get("missing")).isNil());

    const RedisReply incr = await(client->command({"INCRBY", "n", "41"}));
    QVERIFY(incr.isInteger());
    QCOMPARE(incr.toInteger(), 41);

    const RedisReply text = await(client->get("n"));
    QVERIFY(text.isString());
    QCOMPARE(text.bytes(), QByteArray("41"));

    await(client->command({"RPUSH", "list", "a", "b"}));
    const RedisReply list = await(client->command({"LRANGE", "list", "0", "-1"}));
    QVERIFY(list.isArray());
    QCOMPARE(list.elements().size(), 2u);
    QCOMPARE(list.elements().at(1).bytes(), QByteArray("b"));

    const RedisReply nested = await(client->command({"EVAL", "return {1, {'x', false}, 'y'}", "0"}));
    QCOMPARE(nested.toDebugString(), QStringLiteral("[(integer) 1, [\"x\", (nil)], \"y\"]"));

    const RedisReply wrongType = await(client->command({"INCR", "list"}));
    QVERIFY(wrongType.isError());
    QVERIFY(!wrongType.isOk());
    QVERIFY(wrongType.bytes().startsWith("WRONGTYPE"));

    const RedisReply unknown = await(client->command({"NOSUCHCOMMAND"}));
    QVERIFY(unknown.isError());
    QVERIFY(await(client->command({})).isError());
}

void tst_RedisClient::binarySafeKeysAndValues()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    const QByteArray key("k\0ey\r\n%s%n", 11);
    const QByteArray value("\0\x01\xff value\r\n$-1\r\n%d", 18);
    QCOMPARE(await(client->set(key, value)).bytes(), QByteArray("OK"));
    QCOMPARE(await(client->get(key)).bytes(), value);
    QCOMPARE(m_server.command({"STRLEN", key}), QByteArray::number(value.size()));
    const RedisReply empty = await(client->set("empty", QByteArray()));
    QVERIFY(empty.isOk());
    const RedisReply read = await(client->get("empty"));
    QVERIFY(read.isString());
    QVERIFY(read.bytes().isEmpty());
}

void tst_RedisClient::largeValue()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    QByteArray big(1024 * 1024, Qt::Uninitialized);
    for (qsizetype i = 0; i < big.size(); ++i)
        big[i] = char((i * 131) % 256);
    QVERIFY(await(client->set("big", big)).isOk());
    QCOMPARE(await(client->get("big")).bytes(), big);
}

void tst_RedisClient::setOptions()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    QVERIFY(await(client->set("ex", "1", 30s)).isOk());
    const qint64 ttl = await(client->pttl("ex")).toInteger();
    QVERIFY2(ttl > 29000 && ttl <= 30000, qPrintable(QString::number(ttl)));
    QVERIFY(await(client->set("px", "1", 1500ms)).isOk());
    const qint64 pttl = await(client->pttl("px")).toInteger();
    QVERIFY2(pttl > 1000 && pttl <= 1500, qPrintable(QString::number(pttl)));
    QCOMPARE(await(client->pttl("absent")).toInteger(), -2);

    using Cond = RedisClient::SetCondition;
    QVERIFY(await(client->set("nx", "first", 0ms, Cond::IfAbsent)).isStatus());
    QVERIFY(await(client->set("nx", "second", 0ms, Cond::IfAbsent)).isNil());
    QCOMPARE(await(client->get("nx")).bytes(), QByteArray("first"));
    QVERIFY(await(client->set("xx", "v", 0ms, Cond::IfPresent)).isNil());
    QCOMPARE(await(client->del({"nx", "xx", "ex"})).toInteger(), 2);

    const RedisReply time = await(client->time());
    QCOMPARE(time.elements().size(), 2u);
    QVERIFY(time.elements().at(0).bytes().toLongLong() > 1'600'000'000);
    QVERIFY(await(client->configSet("notify-keyspace-events", "Kx")).isOk());
    const RedisReply config = await(client->configGet("notify-keyspace-events"));
    QCOMPARE(config.elements().at(1).bytes(), QByteArray("xK"));
}

void tst_RedisClient::backToBackCommandsCompleteInOrder()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    const auto before = client->stats();
    constexpr int Count = 10000;
    std::vector<RedisPendingReply> pending;
    pending.reserve(Count);
    for (int i = 0; i < Count; ++i)
        pending.push_back(client->command({"INCR", "counter"}));
    for (int i = 0; i < Count; ++i) {
        const RedisReply reply = QCoro::waitFor(pending[size_t(i)]);
        QVERIFY2(reply.isInteger(), qPrintable(reply.toDebugString()));
        QCOMPARE(reply.toInteger(), i + 1);
    }
    const auto after = client->stats();
    QCOMPARE(after.commands - before.commands, quint64(Count));
    QCOMPARE(after.timeouts, before.timeouts);
    // Issued in one event-loop turn, the commands leave together in 2 KB writes (some 75 INCRs
    // each: 270 KB in about 132 writes), not one write per command.
    QVERIFY2(after.writeEvents - before.writeEvents < Count / 50,
        qPrintable(QString::number(after.writeEvents - before.writeEvents)));
}

void tst_RedisClient::commandsBeforeReadyQueueBehindTheConnection()
{
    RedisClient client(urlOf(m_server.url()));
    client.open();
    QCOMPARE(client.state(), RedisClient::State::Connecting);
    RedisPendingReply early = client.set("early", "yes");
    QVERIFY(QCoro::waitFor(early).isOk());
    QCOMPARE(m_server.command({"GET", "early"}), QByteArray("yes"));
    QVERIFY(client.isReady());
}

void tst_RedisClient::commandTimeout()
{
    RedisClient::Options options;
    options.commandTimeout = 200ms;
    auto client = readyClient(m_server.url(), options);
    QVERIFY(client);
    QCOMPARE(m_server.command({"CLIENT", "PAUSE", "1500", "ALL"}), QByteArray("OK"));
    QElapsedTimer timer;
    timer.start();
    const RedisReply reply = await(client->get("k"));
    const qint64 waited = timer.elapsed();
    QVERIFY(reply.isFailure());
    QCOMPARE(reply.failureKind(), RedisReply::Failure::Timeout);
    QVERIFY2(waited >= 190 && waited < 1000, qPrintable(QString::number(waited)));
    QCOMPARE(client->stats().timeouts, 1u);
    // The stuck connection is reset, and the client works again once the pause ends.
    QTRY_VERIFY_WITH_TIMEOUT(client->stats().resets >= 1, 2000);
    QCOMPARE(m_server.command({"CLIENT", "UNPAUSE"}), QByteArray("OK"));
    QVERIFY(QCoro::waitFor(client->waitForReady(3s)));
    QVERIFY(await(client->set("k", "v")).isOk());
    QCOMPARE(await(client->get("k")).bytes(), QByteArray("v"));
}

void tst_RedisClient::serverKilledFailsPendingCommandsPromptly()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    QSignalSpy states(client.get(), &RedisClient::stateChanged);
    // Keep the server busy so that the commands are still pending when it dies.
    m_server.command({"CLIENT", "PAUSE", "5000", "ALL"});
    const quint64 generation = client->writeGeneration();
    RedisPendingReply first = client->get("a");
    RedisPendingReply second = client->get("b");
    // Both are on their way to the server, which holds them.
    QTRY_VERIFY(client->writeGeneration() != generation);
    QVERIFY(!first.isFinished());
    QElapsedTimer timer;
    timer.start();
    m_server.kill();
    const RedisReply a = QCoro::waitFor(first);
    const RedisReply b = QCoro::waitFor(second);
    QVERIFY2(timer.elapsed() < 500, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(a.failureKind(), RedisReply::Failure::ConnectionLost);
    QCOMPARE(b.failureKind(), RedisReply::Failure::ConnectionLost);
    QTRY_COMPARE(client->state(), RedisClient::State::Reconnecting);
    // While down, commands fail at once instead of queueing.
    timer.restart();
    const RedisReply down = await(client->get("c"));
    QVERIFY(down.isFailure());
    QVERIFY(timer.elapsed() < 100);
    QVERIFY(!states.isEmpty());
}

void tst_RedisClient::reconnectsAfterRestart()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    QSignalSpy states(client.get(), &RedisClient::stateChanged);
    m_server.kill();
    QTRY_COMPARE(client->state(), RedisClient::State::Reconnecting);
    QVERIFY2(m_server.restart(), qPrintable(m_server.errorString()));
    QElapsedTimer timer;
    timer.start();
    QVERIFY(QCoro::waitFor(client->waitForReady(5s)));
    // Backoff is capped at 2 s.
    QVERIFY2(timer.elapsed() < 2500, qPrintable(QString::number(timer.elapsed())));
    QVERIFY(await(client->set("after", "restart")).isOk());
    QCOMPARE(m_server.command({"GET", "after"}), QByteArray("restart"));
    QCOMPARE(states.first().at(0).value<RedisClient::State>(), RedisClient::State::Reconnecting);
    QCOMPARE(states.last().at(0).value<RedisClient::State>(), RedisClient::State::Ready);
    QCOMPARE(client->stats().connects, 2u);
}

void tst_RedisClient::connectionRefusedThenServerAppears()
{
    TestRedisServer later;
    QVERIFY2(later.start(), qPrintable(later.errorString()));
    const QString url = later.url();
    later.stop();

    RedisClient client(urlOf(url));
    QSignalSpy errors(&client, &RedisClient::errorOccurred);
    client.open();
    QTRY_VERIFY(!errors.isEmpty());
    QVERIFY(!client.isReady());
    QVERIFY(!client.lastError().isEmpty());
    const RedisReply refused = await(client.ping());
    QVERIFY(refused.isFailure());

    QVERIFY2(later.restart(), qPrintable(later.errorString()));
    QVERIFY(QCoro::waitFor(client.waitForReady(5s)));
    QVERIFY(await(client.ping()).isOk());
    QVERIFY(client.lastError().isEmpty());
}

void tst_RedisClient::scriptReloadedAfterFlush()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    const RedisScript script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
    QCOMPARE(script.sha1().size(), 40);
    const RedisReply loaded = await(client->scriptLoad(script.source()));
    QCOMPARE(loaded.bytes(), script.sha1());

    RedisReply first = QCoro::waitFor(client->evalScript(script, {"s"}, {"arg"}));
    QCOMPARE(first.toDebugString(), QStringLiteral("[\"s\", \"arg\", (integer) 1]"));
    const qint64 evalBefore = m_server.commandCalls("eval");

    QCOMPARE(m_server.command({"SCRIPT", "FLUSH"}), QByteArray("OK"));
    QCOMPARE(await(client->evalsha(script.sha1(), {"s"}, {"x"})).bytes().left(8), QByteArray("NOSCRIPT"));
    RedisReply second = QCoro::waitFor(client->evalScript(script, {"s"}, {"arg"}));
    QCOMPARE(second.toDebugString(), QStringLiteral("[\"s\", \"arg\", (integer) 2]"));
    QCOMPARE(m_server.commandCalls("eval"), evalBefore + 1);
    // EVAL cached it again: the next call is a plain EVALSHA.
    RedisReply third = QCoro::waitFor(client->evalScript(script, {"s"}, {"arg"}));
    QCOMPARE(third.elements().at(2).toInteger(), 3);
    QCOMPARE(m_server.commandCalls("eval"), evalBefore + 1);
}

void tst_RedisClient::passwordAuth()
{
    TestRedisServer secured;
    QVERIFY2(secured.start({QStringLiteral("--requirepass"), QStringLiteral("pa ss:w@rd")}),
        qPrintable(secured.errorString()));
    secured.setPassword(QStringLiteral("pa ss:w@rd"));
    const QString url = QStringLiteral("redis://:pa%20ss%3Aw%40rd@127.0.0.1:%1").arg(secured.port());
    auto client = readyClient(url);
    QVERIFY(client);
    QVERIFY(await(client->set("k", "v")).isOk());
    QCOMPARE(secured.command({"GET", "k"}), QByteArray("v"));
    // After a restart the client authenticates again by itself.
    secured.kill();
    QTRY_COMPARE(client->state(), RedisClient::State::Reconnecting);
    QVERIFY2(secured.restart(), qPrintable(secured.errorString()));
    QVERIFY(QCoro::waitFor(client->waitForReady(5s)));
    QVERIFY(await(client->ping()).isOk());
}

void tst_RedisClient::aclUserAuth()
{
    QCOMPARE(
        m_server.command({"ACL", "SETUSER", "alice", "on", ">wonderland", "~*", "+@all"}), QByteArray("OK"));
    auto client = readyClient(QStringLiteral("redis://alice:wonderland@127.0.0.1:%1").arg(m_server.port()));
    QVERIFY(client);
    QCOMPARE(await(client->command({"ACL", "WHOAMI"})).bytes(), QByteArray("alice"));
    m_server.command({"ACL", "DELUSER", "alice"});
}

void tst_RedisClient::wrongPasswordIsReported()
{
    TestRedisServer secured;
    QVERIFY2(secured.start({QStringLiteral("--requirepass"), QStringLiteral("right")}),
        qPrintable(secured.errorString()));
    RedisClient client(urlOf(QStringLiteral("redis://:wrong@127.0.0.1:%1").arg(secured.port())));
    QSignalSpy errors(&client, &RedisClient::errorOccurred);
    client.open();
    QTRY_VERIFY(!errors.isEmpty());
    QVERIFY(!client.isReady());
    QVERIFY2(client.lastError().contains(QStringLiteral("refused the user or password")),
        qPrintable(client.lastError()));
    QVERIFY(!client.lastError().contains(QStringLiteral("wrong")));
    QVERIFY(client.stats().resets >= 1);
}

void tst_RedisClient::selectDatabase()
{
    auto client = readyClient(m_server.url() + QStringLiteral("/2"));
    QVERIFY(client);
    QVERIFY(await(client->set("in-db-2", "x")).isOk());
    QCOMPARE(m_server.command({"EXISTS", "in-db-2"}), QByteArray("0"));
    QVERIFY(m_server.info("keyspace", "db2").startsWith("keys=1"));
}

void tst_RedisClient::unixSocket()
{
    auto client = readyClient(QStringLiteral("unix://") + m_server.socketPath() + QStringLiteral("?db=1"));
    QVERIFY(client);
    QVERIFY(await(client->set("over-unix", "y")).isOk());
    QVERIFY(m_server.info("keyspace", "db1").startsWith("keys=1"));
}

void tst_RedisClient::closeCompletesPendingCommands()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    m_server.command({"CLIENT", "PAUSE", "2000", "ALL"});
    const quint64 generation = client->writeGeneration();
    RedisPendingReply pending = client->get("x");
    QTRY_VERIFY(client->writeGeneration() != generation); // sent, and held by the server
    QVERIFY(!pending.isFinished());
    client->close();
    QVERIFY(pending.isFinished());
    QCOMPARE(QCoro::waitFor(pending).failureKind(), RedisReply::Failure::Closed);
    QCOMPARE(client->state(), RedisClient::State::Closed);
    QCOMPARE(await(client->ping()).failureKind(), RedisReply::Failure::Closed);
}

void tst_RedisClient::destructorCompletesPendingCommands()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    m_server.command({"CLIENT", "PAUSE", "2000", "ALL"});
    const quint64 generation = client->writeGeneration();
    RedisPendingReply pending = client->get("x");
    QTRY_VERIFY(client->writeGeneration() != generation); // sent, and held by the server
    QVERIFY(!pending.isFinished());
    client.reset();
    QVERIFY(pending.isFinished());
    QCOMPARE(QCoro::waitFor(pending).failureKind(), RedisReply::Failure::Closed);
}

void tst_RedisClient::beforeNextWriteJoinsTheWrite()
{
    auto client = readyClient(m_server.url());
    QVERIFY(client);
    const RedisClient::Stats before = client->stats();
    int calls = 0;
    std::optional<RedisPendingReply> gathered;
    client->beforeNextWrite([&] {
        ++calls;
        gathered = client->command({"INCRBY", "batch", "7"});
    });
    RedisPendingReply first = client->get("batch");
    // Nothing is gathered until the write...
    QCOMPARE(calls, 0);
    QVERIFY(await(first).isNil());
    // ...which happened once, before the GET left: the INCRBY followed it in the same write.
    QCOMPARE(calls, 1);
    QVERIFY(gathered);
    QCOMPARE(await(*gathered).toInteger(), 7);
    const RedisClient::Stats after = client->stats();
    QCOMPARE(after.writeEvents - before.writeEvents, 1u);
    QCOMPARE(after.commands - before.commands, 2u);

    // A callback alone is enough to cause a write.
    client->beforeNextWrite([&] {
        ++calls;
        gathered = client->command({"INCRBY", "batch", "1"});
    });
    QCOMPARE(calls, 1);
    QTRY_COMPARE(calls, 2);
    QCOMPARE(await(*gathered).toInteger(), 8);

    // A callback still waiting when the client closes runs then, and its command fails at once.
    client->beforeNextWrite([&] {
        ++calls;
        gathered = client->command({"INCRBY", "batch", "1"});
    });
    client->close();
    QCOMPARE(calls, 3);
    QVERIFY(gathered->isFinished());
    QCOMPARE(await(*gathered).failureKind(), RedisReply::Failure::Closed);
}

void tst_RedisClient::beforeNextWriteWithoutConnection()
{
    // Nothing listens there: the callback cannot wait for a write that will not come.
    m_server.stop();
    RedisClient client(urlOf(m_server.url()));
    client.open();
    QTRY_VERIFY_WITH_TIMEOUT(
        client.state() == RedisClient::State::Connecting && !client.lastError().isEmpty(), 5000);
    int calls = 0;
    std::optional<RedisPendingReply> gathered;
    QElapsedTimer timer;
    timer.start();
    client.beforeNextWrite([&] {
        ++calls;
        gathered = client.ping();
    });
    QTRY_COMPARE_WITH_TIMEOUT(calls, 1, 2000);
    QVERIFY(gathered);
    QVERIFY(!await(*gathered).isOk());
    QVERIFY2(timer.elapsed() < 1500, qPrintable(QString::number(timer.elapsed())));
}

QTEST_GUILESS_MAIN(tst_RedisClient)
#include "tst_redisclient.moc"
