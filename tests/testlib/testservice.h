// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

// Header-only, like testserviceoptions.h: only tests that link cachedash_service include it, so
// cachedash_testlib itself stays free of the service.
#include "http/httpserver.h"
#include "http/wire.h"
#include "service/service.h"

#include <QString>
#include <QTcpSocket>
#include <QUrl>

#include <qcoro/qcorotask.h>

#include <chrono>
#include <memory>

namespace Cachedash::Test {

// A Service started for a test, in the test's thread, or why it did not start.
class TestService
{
public:
    // Starts a service with `options` (stopping the one it held) and waits until it listens and
    // Redis answers. False with errorString() otherwise.
    bool start(
        ServiceOptions options, std::chrono::milliseconds startupTimeout = std::chrono::milliseconds(2000))
    {
        stop();
        auto service = std::make_unique<Service>(std::move(options));
        if (!QCoro::waitFor(service->start(startupTimeout))) {
            m_error = QStringLiteral("the service did not start: ") + service->errorString();
            return false;
        }
        m_error.clear();
        m_service = std::move(service);
        return true;
    }
    void stop() { m_service.reset(); }

    QString errorString() const { return m_error; }
    // http://127.0.0.1:PORT
    QUrl baseUrl() const { return QUrl(m_service->baseUrl()); }

    Service &operator*() const { return *m_service; }
    Service *operator->() const { return m_service.get(); }

private:
    std::unique_ptr<Service> m_service;
    QString m_error;
};

// QTcpSocket objects the HTTP server owns (its children, directly or through its QTcpServer): one or
// more per open connection, depending on the transport's design; 0 when every connection is freed.
inline int socketObjects(const HttpServer &http)
{
    return int(http.findChildren<QTcpSocket *>().size());
}

// Answer bytes the server has not been able to hand to the kernel.
inline qint64 unsentBytes(const HttpServer &http)
{
    qint64 total = 0;
    for (const Wire *wire : http.findChildren<Wire *>())
        total += wire->bytesToWrite();
    return total;
}

} // namespace Cachedash::Test
