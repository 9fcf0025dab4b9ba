// SPDX-License-Identifier: GPL-3.0-or-later
#include "wire.h"

#include <QSocketNotifier>
#include <QTimer>

#include <cerrno>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace Cachedash {

namespace {

void addressOf(int fd, bool peer, QHostAddress *address, quint16 *port)
{
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    auto *sa = reinterpret_cast<sockaddr *>(&storage);
    if ((peer ? ::getpeername(fd, sa, &length) : ::getsockname(fd, sa, &length)) != 0)
        return;
    address->setAddress(sa);
    if (sa->sa_family == AF_INET)
        *port = ntohs(reinterpret_cast<sockaddr_in *>(sa)->sin_port);
    else if (sa->sa_family == AF_INET6)
        *port = ntohs(reinterpret_cast<sockaddr_in6 *>(sa)->sin6_port);
}

} // namespace

Wire::Wire(qintptr descriptor, QObject *parent)
    : QObject(parent)
    , m_fd(int(descriptor))
{
    ::fcntl(m_fd, F_SETFL, ::fcntl(m_fd, F_GETFL) | O_NONBLOCK);
    // Answers are written whole; Nagle's algorithm would only hold back the second of two
    // pipelined answers until the client acknowledged the first (up to its delayed-ACK timeout).
    const int on = 1;
    ::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    addressOf(m_fd, true, &m_peer, &m_peerPort);
    addressOf(m_fd, false, &m_local, &m_localPort);
    m_readNotifier = new QSocketNotifier(descriptor, QSocketNotifier::Read, this);
    connect(m_readNotifier, &QSocketNotifier::activated, this, &Wire::onReadable);
}

Wire::~Wire()
{
    if (m_fd >= 0)
        ::close(m_fd);
}

qsizetype Wire::read(char *data, qsizetype max)
{
    if (m_fd < 0 || m_atEnd || m_finishing)
        return 0;
    while (true) {
        const ssize_t n = ::recv(m_fd, data, size_t(max), MSG_DONTWAIT);
        if (n > 0)
            return qsizetype(n);
        if (n == 0) {
            m_atEnd = true;
            m_readNotifier->setEnabled(false);
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            close();
        return 0;
    }
}

void Wire::setReading(bool reading)
{
    if (m_fd >= 0 && !m_atEnd)
        m_readNotifier->setEnabled(reading || m_finishing);
}

qint64 Wire::pendingInKernel() const
{
    int pending = 0;
    if (m_fd >= 0 && ::ioctl(m_fd, FIONREAD, &pending) == 0)
        return pending;
    return 0;
}

void Wire::write(const QByteArray &bytes)
{
    if (m_fd < 0 || m_sendingShut || bytes.isEmpty())
        return;
    if (m_outPos < m_out.size()) {
        m_out.append(bytes); // behind what is queued already
        return;
    }
    // Nothing queued: hand the bytes to the kernel now rather than on the next turn of the event
    // loop. That saves a turn and two notifier toggles per answer; only what the kernel does not
    // take waits for the notifier. Errors are left to the notifier too, so that close() and its
    // signal never run inside the caller.
    qsizetype sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(
            m_fd, bytes.constData() + sent, size_t(bytes.size() - sent), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            sent += n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
    }
    if (sent == bytes.size())
        return;
    m_out = bytes; // shares the bytes: nothing is copied
    m_outPos = sent;
    if (!m_writeNotifier) {
        // Made the first time the kernel does not take an answer whole, which most connections
        // never see: creating and registering a notifier costs each new connection.
        m_writeNotifier = new QSocketNotifier(m_fd, QSocketNotifier::Write, this);
        connect(m_writeNotifier, &QSocketNotifier::activated, this, &Wire::onWritable);
    }
    m_writeNotifier->setEnabled(true);
}

bool Wire::sendQueued()
{
    while (m_outPos < m_out.size()) {
        const ssize_t n = ::send(
            m_fd, m_out.constData() + m_outPos, size_t(m_out.size() - m_outPos), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            m_outPos += n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        close(); // the client is gone
        return false;
    }
    m_out.clear();
    m_outPos = 0;
    return true;
}

void Wire::onWritable()
{
    if (!sendQueued())
        return;
    if (bytesToWrite() == 0) {
        m_writeNotifier->setEnabled(false);
        if (m_finishing)
            shutDownSending();
    }
    Q_EMIT bytesWritten();
}

void Wire::onReadable()
{
    if (m_finishing) {
        drain();
        return;
    }
    Q_EMIT readyRead();
}

void Wire::finish(std::chrono::milliseconds linger)
{
    if (m_fd < 0 || m_finishing)
        return;
    m_finishing = true;
    m_lingerTimer = new QTimer(this);
    m_lingerTimer->setSingleShot(true);
    connect(m_lingerTimer, &QTimer::timeout, this, &Wire::close);
    m_lingerTimer->start(linger);
    if (!m_atEnd)
        m_readNotifier->setEnabled(true);
    if (bytesToWrite() == 0)
        shutDownSending();
    // else onWritable() shuts down once the last byte is out
}

void Wire::shutDownSending()
{
    if (m_fd < 0 || m_sendingShut)
        return;
    m_sendingShut = true;
    ::shutdown(m_fd, SHUT_WR);
    if (m_atEnd)
        close(); // the client has said all it will: nothing left to wait for
}

void Wire::drain()
{
    char scratch[16 * 1024];
    while (m_fd >= 0) {
        const ssize_t n = ::recv(m_fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        // The client closed (or the connection broke): done once our side is out.
        m_atEnd = true;
        m_readNotifier->setEnabled(false);
        if (m_sendingShut || n < 0)
            close();
        return;
    }
}

void Wire::close()
{
    if (m_fd < 0)
        return;
    m_readNotifier->setEnabled(false);
    if (m_writeNotifier)
        m_writeNotifier->setEnabled(false);
    ::close(m_fd);
    m_fd = -1;
    m_out.clear();
    m_outPos = 0;
    if (m_lingerTimer)
        m_lingerTimer->stop();
    Q_EMIT closed();
}

} // namespace Cachedash
