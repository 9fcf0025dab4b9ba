// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QTcpSocket>

namespace Cachedash {

class Wire;

namespace detail {

// The socket QHttpServer reads requests from: not a network socket, but a feed of one complete,
// scanned request at a time. Answers go to the real socket, the Wire.
//
// QHttpServer 6.4 reads a request's head one byte per read() call, inside a transaction. On a
// buffered sequential device each such call goes through QIODevice's ring buffer, which kept the
// data for the transaction: about 200 instructions a byte. This feed says it is unbuffered and
// random-access (it holds the request, so it can seek), and each read() comes straight here.
class ParserFeed final : public QTcpSocket
{
public:
    explicit ParserFeed(Wire *wire);

    bool isSequential() const override { return false; }
    // Positions count every byte delivered so far; only the current request can be sought to.
    bool seek(qint64 pos) override;
    qint64 bytesAvailable() const override;

    // Hands one request to whoever reads this socket, synchronously.
    void deliver(QByteArray bytes);
    // The wire has gone: QHttpServer lets go of this socket.
    void end();

protected:
    qint64 readData(char *data, qint64 maxSize) override;
    qint64 writeData(const char *, qint64) override { return -1; }

private:
    QByteArray m_bytes;
    qsizetype m_read = 0;
    qint64 m_base = 0; // the position of m_bytes' first byte
};

} // namespace detail
} // namespace Cachedash
