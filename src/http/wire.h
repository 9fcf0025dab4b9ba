// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QHostAddress>
#include <QObject>

#include <chrono>

class QSocketNotifier;
class QTimer;

namespace Cachedash {

// The server's side of one TCP connection, on its bare descriptor: non-blocking reads and writes
// driven by two QSocketNotifiers, and an output buffer.
//
// Unlike QTcpSocket it survives the client shutting down its sending side. An HTTP client may send
// its request and half-close the connection at once (nc -q1, some scripts); it still expects the
// answer, but QTcpSocket tears the whole connection down at the client's FIN and drops the answers
// not yet written. Here the end of the client's stream is only a fact (atEnd()), and the server
// decides when to close.
class Wire : public QObject
{
    Q_OBJECT

public:
    // Takes over a connected socket's descriptor.
    Wire(qintptr descriptor, QObject *parent = nullptr);
    ~Wire() override;

    bool isOpen() const { return m_fd >= 0; }
    const QHostAddress &peerAddress() const { return m_peer; }
    quint16 peerPort() const { return m_peerPort; }
    const QHostAddress &localAddress() const { return m_local; }
    quint16 localPort() const { return m_localPort; }

    // Reads what the kernel holds, up to max bytes: 0 when there is nothing now. At the end of the
    // client's stream, atEnd() turns true and reading stops for good. An error closes the wire.
    qsizetype read(char *data, qsizetype max);
    bool atEnd() const { return m_atEnd; }
    // Whether readyRead() is emitted for new bytes. Bytes not read stay in the kernel, whose full
    // buffer then slows the client down.
    void setReading(bool reading);
    // Bytes the kernel holds for this connection, not read yet.
    qint64 pendingInKernel() const;

    // Sends what the kernel takes at once and queues the rest, which leaves in order when the
    // socket can take it. Never closes (nor signals) from inside: errors wait for the notifier.
    void write(const QByteArray &bytes);
    qint64 bytesToWrite() const { return m_out.size() - m_outPos; }

    // Closes gracefully: what is queued is written, then the sending side is shut down; whatever
    // the client still sends is dropped until it closes too, or `linger` has passed. Nothing more
    // is read as data.
    void finish(std::chrono::milliseconds linger);
    bool isFinishing() const { return m_finishing; }
    // Closes at once; queued bytes are dropped.
    void close();

Q_SIGNALS:
    void readyRead();
    void bytesWritten();
    // The connection is closed, by close(), finish() or an error. Emitted once.
    void closed();

private:
    void onReadable();
    void onWritable();
    bool sendQueued();
    void shutDownSending();
    void drain();

    int m_fd = -1;
    QHostAddress m_peer;
    QHostAddress m_local;
    quint16 m_peerPort = 0;
    quint16 m_localPort = 0;
    QSocketNotifier *m_readNotifier = nullptr;
    QSocketNotifier *m_writeNotifier = nullptr;
    QTimer *m_lingerTimer = nullptr;
    QByteArray m_out;
    qsizetype m_outPos = 0;
    bool m_atEnd = false;
    bool m_finishing = false;
    bool m_sendingShut = false;
};

} // namespace Cachedash
