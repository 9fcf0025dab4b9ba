// SPDX-License-Identifier: GPL-3.0-or-later
#include "http/wire.h"

#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTest>

#include <cerrno>
#include <memory>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;
using Cachedash::Wire;

namespace {

// A listening socket whose connections come out as bare descriptors, as HttpServer takes them.
class DescriptorServer : public QTcpServer
{
public:
    QList<qintptr> descriptors;

protected:
    void incomingConnection(qintptr descriptor) override { descriptors.append(descriptor); }
};

// One loopback connection: a plain non-blocking client socket, and the server's side in a Wire.
class Connection
{
public:
    ~Connection()
    {
        wire.reset();
        if (client >= 0)
            ::close(client);
    }

    // Small kernel buffers make "the kernel is full" a matter of kilobytes (about 10 KB on Linux).
    bool open(DescriptorServer &listener, bool smallBuffers = false)
    {
        client = ::socket(AF_INET, SOCK_STREAM, 0);
        const int small = 4096;
        if (smallBuffers)
            ::setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(listener.serverPort());
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(client, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0)
            return false;
        ::fcntl(client, F_SETFL, ::fcntl(client, F_GETFL) | O_NONBLOCK);
        if (!QTest::qWaitFor([&] { return !listener.descriptors.isEmpty(); }, 5000))
            return false;
        const qintptr descriptor = listener.descriptors.takeFirst();
        if (smallBuffers)
            ::setsockopt(int(descriptor), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        wire = std::make_unique<Wire>(descriptor);
        return true;
    }

    void send(const QByteArray &bytes) const
    {
        QCOMPARE_EQ(
            ::send(client, bytes.constData(), size_t(bytes.size()), MSG_NOSIGNAL), ssize_t(bytes.size()));
    }

    // Reads what the client is sent until `size` bytes came, the server closed, or 5 s passed.
    QByteArray receive(qsizetype size)
    {
        // The caller compares what came with what it expected.
        static_cast<void>(QTest::qWaitFor(
            [&] {
                pull();
                return received.size() >= size || eof;
            },
            5000));
        return received.left(size);
    }

    // Reads until the server's side has closed its sending half (or 5 s passed).
    bool waitForEof()
    {
        return QTest::qWaitFor(
            [&] {
                pull();
                return eof;
            },
            5000);
    }

    // Resets the connection from the client's side (RST rather than FIN).
    void reset()
    {
        const linger abort{1, 0};
        ::setsockopt(client, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        ::close(client);
        client = -1;
    }

    int client = -1;
    std::unique_ptr<Wire> wire;
    QByteArray received;
    bool eof = false; // the server's FIN (or a reset) was seen

private:
    void pull()
    {
        char buffer[64 * 1024];
        while (!eof) {
            const ssize_t n = ::recv(client, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n > 0)
                received.append(buffer, n);
            else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                eof = true;
            else
                return;
        }
    }
};

// Distinct bytes per chunk, so that the order in which they arrive shows.
QByteArray chunk(char c, qsizetype size)
{
    return QByteArray(size, c);
}

} // namespace

class tst_Wire : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    void addresses();
    void reads();
    void readingCanWait();
    void writesReachThePeer();
    void writesQueueWhenTheKernelIsFullAndLeaveInOrder();
    void halfClosedPeerStillGetsWrites();
    void finishWritesWhatIsQueuedThenCloses();
    void finishClosesAtOnceWhenThePeerIsDone();
    void finishLingersForAPeerThatStaysOpen();
    void closeDropsWhatIsQueued();
    void peerResetClosesOnce_data();
    void peerResetClosesOnce();

private:
    DescriptorServer m_listener;
};

void tst_Wire::initTestCase()
{
    QVERIFY(m_listener.listen(QHostAddress::LocalHost, 0));
}

void tst_Wire::addresses()
{
    Connection c;
    QVERIFY(c.open(m_listener));
    sockaddr_in client{};
    socklen_t length = sizeof client;
    QCOMPARE(::getsockname(c.client, reinterpret_cast<sockaddr *>(&client), &length), 0);
    QVERIFY(c.wire->isOpen());
    QCOMPARE(c.wire->peerAddress(), QHostAddress(QHostAddress::LocalHost));
    QCOMPARE(c.wire->peerPort(), ntohs(client.sin_port));
    QCOMPARE(c.wire->localAddress(), QHostAddress(QHostAddress::LocalHost));
    QCOMPARE(c.wire->localPort(), m_listener.serverPort());
}

void tst_Wire::reads()
{
    Connection c;
    QVERIFY(c.open(m_listener));
    QSignalSpy readyRead(c.wire.get(), &Wire::readyRead);
    char buffer[64];
    QCOMPARE(c.wire->read(buffer, sizeof buffer), 0); // nothing yet, and no end either
    QVERIFY(!c.wire->atEnd());

    c.send("GET / HTTP/1.1\r\n");
    QVERIFY(readyRead.wait(5000));
    QCOMPARE(c.wire->read(buffer, 3), 3); // no more than asked
    QCOMPARE(QByteArray(buffer, 3), QByteArray("GET"));
    const qsizetype rest = c.wire->read(buffer, sizeof buffer);
    QCOMPARE(QByteArray(buffer, rest), QByteArray(" / HTTP/1.1\r\n"));
    QCOMPARE(c.wire->read(buffer, sizeof buffer), 0);
    QVERIFY(!c.wire->atEnd());
    QVERIFY(c.wire->isOpen());
}

void tst_Wire::readingCanWait()
{
    Connection c;
    QVERIFY(c.open(m_listener));
    c.wire->setReading(false);
    QSignalSpy readyRead(c.wire.get(), &Wire::readyRead);
    c.send("0123456789");
    // The bytes wait in the kernel, where the client's flow control can see them.
    QTRY_COMPARE(c.wire->pendingInKernel(), 10);
    c.wire->setReading(true);
    QVERIFY(readyRead.wait(5000));
    char buffer[64];
    QCOMPARE(QByteArray(buffer, c.wire->read(buffer, sizeof buffer)), QByteArray("0123456789"));
    QCOMPARE(c.wire->pendingInKernel(), 0);
}

void tst_Wire::writesReachThePeer()
{
    Connection c;
    QVERIFY(c.open(m_listener));
    c.wire->write("HTTP/1.1 200 OK\r\n");
    c.wire->write(QByteArray()); // nothing to write: no effect
    c.wire->write("\r\n");
    // A small answer is taken by the kernel at once: nothing waits for the event loop.
    QCOMPARE(c.wire->bytesToWrite(), 0);
    QCOMPARE(c.receive(19), QByteArray("HTTP/1.1 200 OK\r\n\r\n"));
}

void tst_Wire::writesQueueWhenTheKernelIsFullAndLeaveInOrder()
{
    Connection c;
    QVERIFY(c.open(m_listener, true));
    QSignalSpy written(c.wire.get(), &Wire::bytesWritten);
    const QByteArray all = chunk('a', 30'000) + chunk('b', 20'000) + chunk('c', 10) + chunk('d', 10'000);
    c.wire->write(chunk('a', 30'000));
    QVERIFY(c.wire->bytesToWrite() > 0); // the kernel took only part of it
    QVERIFY(c.wire->bytesToWrite() < 30'000);
    c.wire->write(chunk('b', 20'000));
    c.wire->write(chunk('c', 10));
    c.wire->write(chunk('d', 10'000));
    QVERIFY(c.wire->bytesToWrite() > 30'000);

    const QByteArray received = c.receive(all.size());
    QCOMPARE(received.size(), all.size());
    QVERIFY(received == all); // every byte, in the order written
    QTRY_COMPARE(c.wire->bytesToWrite(), 0);
    QVERIFY(!written.isEmpty());
    QVERIFY(c.wire->isOpen());
}

void tst_Wire::halfClosedPeerStillGetsWrites()
{
    Connection c;
    QVERIFY(c.open(m_listener));
    QSignalSpy readyRead(c.wire.get(), &Wire::readyRead);
    QSignalSpy closed(c.wire.get(), &Wire::closed);
    // A request, then the client shuts its sending side (as nc -q1 does).
    c.send("ping");
    QCOMPARE(::shutdown(c.client, SHUT_WR), 0);
    QVERIFY(readyRead.wait(5000));
    char buffer[64];
    QCOMPARE(QByteArray(buffer, c.wire->read(buffer, sizeof buffer)), QByteArray("ping"));
    QTRY_VERIFY(c.wire->read(buffer, sizeof buffer) == 0 && c.wire->atEnd());

    // The end of the client's stream is a fact, not a close: the answer still goes out.
    QVERIFY(c.wire->isOpen());
    c.wire->write("pong");
    QCOMPARE(c.receive(4), QByteArray("pong"));
    QVERIFY(closed.isEmpty());
    QCOMPARE(c.wire->read(buffer, sizeof buffer), 0); // reading has stopped for good
}

void tst_Wire::finishWritesWhatIsQueuedThenCloses()
{
    Connection c;
    QVERIFY(c.open(m_listener, true));
    QSignalSpy readyRead(c.wire.get(), &Wire::readyRead);
    QSignalSpy closed(c.wire.get(), &Wire::closed);
    const QByteArray answer = chunk('x', 40'000) + chunk('y', 1000);
    c.wire->write(answer);
    QVERIFY(c.wire->bytesToWrite() > 0);
    c.wire->finish(10s);
    QVERIFY(c.wire->isFinishing());

    // Everything queued arrives, then the server's end of the stream.
    QVERIFY(c.waitForEof());
    QVERIFY(c.received == answer);
    // The wire waits for the client to close too, dropping what it still sends.
    QVERIFY(closed.isEmpty());
    QVERIFY(c.wire->isOpen());
    c.send("late bytes");
    QCOMPARE(::shutdown(c.client, SHUT_WR), 0);
    QVERIFY(closed.wait(5000));
    QCOMPARE(closed.size(), 1);
    QVERIFY(!c.wire->isOpen());
    QVERIFY(readyRead.isEmpty()); // the late bytes were never offered as data
}

void tst_Wire::finishClosesAtOnceWhenThePeerIsDone()
{
    Connection c;
    QVERIFY(c.open(m_listener));
    QSignalSpy readyRead(c.wire.get(), &Wire::readyRead);
    QSignalSpy closed(c.wire.get(), &Wire::closed);
    QCOMPARE(::shutdown(c.client, SHUT_WR), 0);
    QVERIFY(readyRead.wait(5000));
    char buffer[16];
    QCOMPARE(c.wire->read(buffer, sizeof buffer), 0);
    QVERIFY(c.wire->atEnd());
    c.wire->write("bye");
    // Nothing queued and nothing more to hear: no reason to linger.
    c.wire->finish(10s);
    QCOMPARE(closed.size(), 1);
    QVERIFY(!c.wire->isOpen());
    QVERIFY(c.waitForEof());
    QCOMPARE(c.received, QByteArray("bye"));
}

void tst_Wire::finishLingersForAPeerThatStaysOpen()
{
    Connection c;
    QVERIFY(c.open(m_listener));
    QSignalSpy closed(c.wire.get(), &Wire::closed);
    c.wire->write("bye");
    c.wire->finish(100ms);
    QVERIFY(c.waitForEof()); // our side is shut at once: nothing was queued
    QCOMPARE(c.received, QByteArray("bye"));
    QVERIFY(closed.wait(5000)); // and the wire gives up on the client after the linger time
    QCOMPARE(closed.size(), 1);
    QVERIFY(!c.wire->isOpen());
    c.wire->close(); // closing again is harmless
    QCOMPARE(closed.size(), 1);
}

void tst_Wire::closeDropsWhatIsQueued()
{
    Connection c;
    QVERIFY(c.open(m_listener, true));
    QSignalSpy closed(c.wire.get(), &Wire::closed);
    const qsizetype total = 50'000;
    c.wire->write(chunk('z', total));
    QVERIFY(c.wire->bytesToWrite() > 0);
    c.wire->close();
    QCOMPARE(closed.size(), 1); // at once
    QVERIFY(!c.wire->isOpen());
    QCOMPARE(c.wire->bytesToWrite(), 0);
    c.wire->write("after");
    QCOMPARE(c.wire->bytesToWrite(), 0);
    c.wire->close();
    c.wire->finish(1s);
    QCOMPARE(closed.size(), 1); // once, whatever follows
    char buffer[16];
    QCOMPARE(c.wire->read(buffer, sizeof buffer), 0);

    // The client gets what the kernel had taken, then the end: never the queued rest.
    QVERIFY(c.waitForEof());
    QVERIFY(c.received.size() < total);
    QVERIFY(!c.received.contains("after"));
}

void tst_Wire::peerResetClosesOnce_data()
{
    QTest::addColumn<bool>("byWriting");
    QTest::newRow("found by reading") << false;
    QTest::newRow("found by writing") << true;
}

void tst_Wire::peerResetClosesOnce()
{
    QFETCH(bool, byWriting);
    Connection c;
    QVERIFY(c.open(m_listener));
    QSignalSpy readyRead(c.wire.get(), &Wire::readyRead);
    QSignalSpy closed(c.wire.get(), &Wire::closed);
    c.reset();
    QVERIFY(readyRead.wait(5000)); // a reset makes the socket readable
    if (byWriting) {
        c.wire->setReading(false);
        c.wire->write("answer");
        // Never closed from inside write(): the caller may be in the middle of something.
        QCOMPARE(closed.size(), 0);
        QVERIFY(closed.wait(5000));
    } else {
        char buffer[16];
        QCOMPARE(c.wire->read(buffer, sizeof buffer), 0);
        QCOMPARE(closed.size(), 1);
    }
    QVERIFY(!c.wire->isOpen());
    c.wire->close();
    QCOMPARE(closed.size(), 1);
}

QTEST_GUILESS_MAIN(tst_Wire)
#include "tst_wire.moc"
