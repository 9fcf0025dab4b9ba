// SPDX-License-Identifier: GPL-3.0-or-later
#include "parserfeed_p.h"

#include "wire.h"

#include <cstring>

namespace Cachedash::detail {

ParserFeed::ParserFeed(Wire *wire)
    : QTcpSocket(wire)
{
    setPeerAddress(wire->peerAddress());
    setPeerPort(wire->peerPort());
    setLocalAddress(wire->localAddress());
    setLocalPort(wire->localPort());
    QIODevice::open(QIODevice::ReadWrite | QIODevice::Unbuffered);
    setSocketState(QAbstractSocket::ConnectedState);
}

bool ParserFeed::seek(qint64 pos)
{
    const qint64 at = pos - m_base;
    if (at < 0 || at > m_bytes.size())
        return false;
    QIODevice::seek(pos);
    m_read = at;
    return true;
}

qint64 ParserFeed::bytesAvailable() const
{
    return QTcpSocket::bytesAvailable() + (m_bytes.size() - m_read);
}

void ParserFeed::deliver(QByteArray bytes)
{
    m_base = pos();
    m_bytes = std::move(bytes);
    m_read = 0;
    Q_EMIT readyRead();
    m_base += m_read;
    m_bytes.clear();
    m_read = 0;
}

void ParserFeed::end()
{
    if (state() == QAbstractSocket::UnconnectedState)
        return;
    setSocketState(QAbstractSocket::UnconnectedState);
    Q_EMIT disconnected();
}

qint64 ParserFeed::readData(char *data, qint64 maxSize)
{
    const qint64 n = std::min<qint64>(maxSize, m_bytes.size() - m_read);
    if (n > 0)
        std::memcpy(data, m_bytes.constData() + m_read, size_t(n));
    m_read += n;
    return n;
}

} // namespace Cachedash::detail
