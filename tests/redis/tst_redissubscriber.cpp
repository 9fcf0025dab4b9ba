// SPDX-License-Identifier: GPL-3.0-or-later
#include "redis/redissubscriber.h"
#include "testlib/testredisserver.h"

#include <QHostAddress>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTest>

#include <memory>

using Cachedash::RedisSubscriber;
using Cachedash::RedisUrl;
using Cachedash::Test::TestRedisServer;

namespace {

RedisUrl urlOf(const QString &text)
{
    return RedisUrl::parse(text).value();
}

// A loopback port nothing listens on.
quint16 closedPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

// The three arguments of one message() emission.
struct Message
{
    QByteArray pattern;
    QByteArray channel;
    QByteArray payload;
};

Message messageAt(const QSignalSpy &spy, int i)
{
    const QList<QVariant> &args = spy.at(i);
    return {args.at(0).toByteArray(), args.at(1).toByteArray(), args.at(2).toByteArray()};
}

} // namespace

class tst_RedisSubscriber : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void receivesWhatAnotherConnectionPublishes();
    void patternAddedWhileConnected();
    void samePatternTwiceIsOneSubscription();
    void keyspaceNotifications();
    void closeUnsubscribes();
    void resubscribesAfterServerRestart();
    void connectionRefusedIsReported();
    void lostConnectionIsReported();
    void authentication_data();
    void authentication();

private:
    std::unique_ptr<RedisSubscriber> subscribed(const QString &url, const QByteArray &pattern);

    TestRedisServer m_server;
};

void tst_RedisSubscriber::initTestCase()
{
    QVERIFY2(m_server.start(), qPrintable(m_server.errorString()));
}

void tst_RedisSubscriber::init()
{
    if (!m_server.isRunning())
        QVERIFY2(m_server.restart(), qPrintable(m_server.errorString()));
    // Every subscriber of the test before is gone.
    QTRY_COMPARE(m_server.command({"PUBSUB", "NUMPAT"}), QByteArray("0"));
}

std::unique_ptr<RedisSubscriber> tst_RedisSubscriber::subscribed(
    const QString &url, const QByteArray &pattern)
{
    auto subscriber = std::make_unique<RedisSubscriber>(urlOf(url));
    QSignalSpy changed(subscriber.get(), &RedisSubscriber::subscribedChanged);
    subscriber->psubscribe(pattern);
    subscriber->open();
    if (!changed.wait(5000) || !subscriber->isSubscribed())
        return nullptr;
    return subscriber;
}

void tst_RedisSubscriber::receivesWhatAnotherConnectionPublishes()
{
    auto subscriber = subscribed(m_server.url(), "news.*");
    QVERIFY(subscriber);
    QSignalSpy messages(subscriber.get(), &RedisSubscriber::message);

    // PUBLISH answers how many subscribers got the message: this one.
    QCOMPARE(m_server.command({"PUBLISH", "news.tech", "hello"}), QByteArray("1"));
    QCOMPARE(m_server.command({"PUBLISH", "weather", "rain"}), QByteArray("0"));
    const QByteArray binary("a\0b\r\n$3\r\n", 10);
    QCOMPARE(m_server.command({"PUBLISH", "news.bin", binary}), QByteArray("1"));

    QTRY_COMPARE(messages.size(), 2);
    const Message first = messageAt(messages, 0);
    QCOMPARE(first.pattern, QByteArray("news.*"));
    QCOMPARE(first.channel, QByteArray("news.tech"));
    QCOMPARE(first.payload, QByteArray("hello"));
    const Message second = messageAt(messages, 1);
    QCOMPARE(second.channel, QByteArray("news.bin"));
    QCOMPARE(second.payload, binary);
}

void tst_RedisSubscriber::patternAddedWhileConnected()
{
    auto subscriber = subscribed(m_server.url(), "a.*");
    QVERIFY(subscriber);
    QSignalSpy messages(subscriber.get(), &RedisSubscriber::message);
    subscriber->psubscribe("b.*");
    QTRY_COMPARE(m_server.command({"PUBSUB", "NUMPAT"}), QByteArray("2"));
    QCOMPARE(m_server.command({"PUBLISH", "b.1", "x"}), QByteArray("1"));
    QVERIFY(messages.wait(5000));
    QCOMPARE(messageAt(messages, 0).pattern, QByteArray("b.*"));
}

void tst_RedisSubscriber::samePatternTwiceIsOneSubscription()
{
    auto subscriber = subscribed(m_server.url(), "a.*");
    QVERIFY(subscriber);
    QSignalSpy messages(subscriber.get(), &RedisSubscriber::message);
    subscriber->psubscribe("a.*");
    subscriber->psubscribe("z.*"); // a marker: once it is in place, so would a second a.* be
    QTRY_COMPARE(m_server.command({"PUBSUB", "NUMPAT"}), QByteArray("2"));
    QCOMPARE(m_server.command({"PUBLISH", "a.1", "once"}), QByteArray("1"));
    QCOMPARE(m_server.command({"PUBLISH", "z.1", "last"}), QByteArray("1"));
    QTRY_COMPARE(messages.size(), 2);
    QCOMPARE(messageAt(messages, 0).payload, QByteArray("once"));
    QCOMPARE(messageAt(messages, 1).payload, QByteArray("last"));
}

void tst_RedisSubscriber::keyspaceNotifications()
{
    QCOMPARE(m_server.command({"CONFIG", "SET", "notify-keyspace-events", "K$g"}), QByteArray("OK"));
    auto subscriber = subscribed(m_server.url(), "__keyspace@0__:report:*");
    QVERIFY(subscriber);
    QSignalSpy messages(subscriber.get(), &RedisSubscriber::message);
    QCOMPARE(m_server.command({"SET", "report:emea", "{}"}), QByteArray("OK"));
    QCOMPARE(m_server.command({"SET", "other", "x"}), QByteArray("OK"));
    QCOMPARE(m_server.command({"DEL", "report:emea"}), QByteArray("1"));
    QTRY_COMPARE(messages.size(), 2);
    QCOMPARE(messageAt(messages, 0).channel, QByteArray("__keyspace@0__:report:emea"));
    QCOMPARE(messageAt(messages, 0).payload, QByteArray("set"));
    QCOMPARE(messageAt(messages, 1).payload, QByteArray("del"));
    QCOMPARE(m_server.command({"CONFIG", "SET", "notify-keyspace-events", ""}), QByteArray("OK"));
}

void tst_RedisSubscriber::closeUnsubscribes()
{
    auto subscriber = subscribed(m_server.url(), "a.*");
    QVERIFY(subscriber);
    QSignalSpy changed(subscriber.get(), &RedisSubscriber::subscribedChanged);
    QSignalSpy errors(subscriber.get(), &RedisSubscriber::errorOccurred);
    subscriber->close();
    QVERIFY(!subscriber->isSubscribed());
    QCOMPARE(changed.size(), 1);
    QCOMPARE(changed.at(0).at(0).toBool(), false);
    QTRY_COMPARE(m_server.command({"PUBSUB", "NUMPAT"}), QByteArray("0"));
    QVERIFY(errors.isEmpty()); // closing is no error

    // Opened again, it subscribes to what it had.
    subscriber->open();
    QVERIFY(changed.wait(5000));
    QVERIFY(subscriber->isSubscribed());
    QCOMPARE(m_server.command({"PUBLISH", "a.1", "back"}), QByteArray("1"));
}

void tst_RedisSubscriber::resubscribesAfterServerRestart()
{
    auto subscriber = subscribed(m_server.url(), "a.*");
    QVERIFY(subscriber);
    QSignalSpy changed(subscriber.get(), &RedisSubscriber::subscribedChanged);
    QSignalSpy messages(subscriber.get(), &RedisSubscriber::message);
    QVERIFY2(m_server.restart(), qPrintable(m_server.errorString()));

    QTRY_COMPARE(changed.size(), 1);
    QCOMPARE(changed.at(0).at(0).toBool(), false);
    // It retries every second.
    QTRY_VERIFY_WITH_TIMEOUT(subscriber->isSubscribed(), 5000);
    QCOMPARE(changed.size(), 2);
    QCOMPARE(m_server.command({"PUBLISH", "a.1", "again"}), QByteArray("1"));
    QVERIFY(messages.wait(5000));
    QCOMPARE(messageAt(messages, 0).payload, QByteArray("again"));
}

void tst_RedisSubscriber::connectionRefusedIsReported()
{
    RedisSubscriber subscriber(urlOf(QStringLiteral("redis://127.0.0.1:%1").arg(closedPort())));
    QSignalSpy errors(&subscriber, &RedisSubscriber::errorOccurred);
    subscriber.psubscribe("a.*");
    subscriber.open();
    QVERIFY(errors.wait(5000));
    QVERIFY2(errors.at(0).at(0).toString().contains(QLatin1String("refused"), Qt::CaseInsensitive),
        qPrintable(errors.at(0).at(0).toString()));
    QVERIFY(!subscriber.isSubscribed());
}

void tst_RedisSubscriber::lostConnectionIsReported()
{
    auto subscriber = subscribed(m_server.url(), "a.*");
    QVERIFY(subscriber);
    QSignalSpy errors(subscriber.get(), &RedisSubscriber::errorOccurred);
    m_server.kill();
    QVERIFY(errors.wait(5000));
    QVERIFY(!errors.at(0).at(0).toString().isEmpty());
    QVERIFY(!subscriber->isSubscribed());
}

void tst_RedisSubscriber::authentication_data()
{
    QTest::addColumn<QString>("credentials");
    QTest::addColumn<bool>("accepted");
    QTest::newRow("right password") << QStringLiteral(":s3cret@") << true;
    QTest::newRow("wrong password") << QStringLiteral(":wrong@") << false;
    QTest::newRow("no password") << QString() << false;
}

void tst_RedisSubscriber::authentication()
{
    QFETCH(QString, credentials);
    QFETCH(bool, accepted);
    TestRedisServer secured;
    QVERIFY2(secured.start({QStringLiteral("--requirepass"), QStringLiteral("s3cret")}),
        qPrintable(secured.errorString()));
    secured.setPassword(QStringLiteral("s3cret"));

    RedisSubscriber subscriber(urlOf(QStringLiteral("redis://") + credentials + QStringLiteral("127.0.0.1:")
        + QString::number(secured.port())));
    QSignalSpy changed(&subscriber, &RedisSubscriber::subscribedChanged);
    QSignalSpy errors(&subscriber, &RedisSubscriber::errorOccurred);
    subscriber.psubscribe("a.*");
    subscriber.open();
    if (accepted) {
        QVERIFY(changed.wait(5000));
        QVERIFY(subscriber.isSubscribed());
        QCOMPARE(secured.command({"PUBLISH", "a.1", "x"}), QByteArray("1"));
        QVERIFY(errors.isEmpty());
    } else {
        // Refused subscriptions are an error to hear of, not a silence.
        QVERIFY(errors.wait(5000));
        QVERIFY2(errors.at(0).at(0).toString().contains(QLatin1String("NOAUTH"))
                || errors.at(0).at(0).toString().contains(QLatin1String("WRONGPASS")),
            qPrintable(errors.at(0).at(0).toString()));
        QVERIFY(!subscriber.isSubscribed());
        QCOMPARE(secured.command({"PUBSUB", "NUMPAT"}), QByteArray("0"));
    }
}

QTEST_GUILESS_MAIN(tst_RedisSubscriber)
#include "tst_redissubscriber.moc"
