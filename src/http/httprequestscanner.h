// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

#include <algorithm>

namespace Cachedash {

// How big a request may be. The defaults suit an API whose requests carry no body of note.
struct HttpLimits
{
    qsizetype maxRequestLine = 8 * 1024; // beyond: 414
    qsizetype maxHeadBytes = 32 * 1024; // request line and header lines together; beyond: 431
    int maxHeaders = 100; // beyond: 431
    qint64 maxBody = 64 * 1024; // a larger Content-Length: 413
};

// What the scanner learned of one complete request.
struct ScannedRequest
{
    QByteArray path; // the request target's path, as sent (still percent-encoded)
    bool http10 = false; // HTTP/1.0 (else HTTP/1.1)
    bool keepAlive = true; // the connection stays open after the answer
    qint64 bodyLength = 0;
};

// Finds where each request of an HTTP/1.x byte stream ends, and refuses what is malformed or too
// big before any of it is buffered for good: the incremental, bounded check that stands in front
// of QHttpServer's own parser. It is stricter than that parser, so every request it passes on
// parses the same way there (one request per hand-over: no desynchronised framing).
//
// Refusals, each with a status and a sentence for the client:
//   400 malformed request line or header, obsolete line folding, a bare CR, a missing Host
//       (HTTP/1.1), a duplicated Content-Length or Host, an Upgrade or CONNECT
//   411 Transfer-Encoding (bodies need a Content-Length)
//   413 Content-Length above maxBody
//   414 request line above maxRequestLine
//   431 head above maxHeadBytes, or more than maxHeaders header lines
//   501 a method this service does not know
//   505 an HTTP version other than 1.0 and 1.1
class HttpRequestScanner
{
public:
    explicit HttpRequestScanner(HttpLimits limits = {});

    // Scans the stream's next bytes. Returns how many were consumed: all of them, or fewer when a
    // request ended (complete() is then true, and the rest belongs to the next request) or the
    // stream was refused (failed() is then true).
    qsizetype scan(const char *data, qsizetype size);

    bool complete() const { return m_state == State::Complete; }
    bool failed() const { return m_state == State::Failed; }
    // True once a byte of the next request has been seen: the request is under way.
    bool inRequest() const { return m_state != State::Idle; }
    const ScannedRequest &request() const { return m_request; }
    // After complete(): scans the next request.
    void next();

    int errorStatus() const { return m_errorStatus; }
    const QString &errorDetail() const { return m_errorDetail; }
    // What was read of the request line, for logs (empty before it is read; at most 32 bytes of
    // the method and 256 of the target).
    QByteArray method() const { return m_requestLine.left(std::min<qsizetype>(m_methodEnd, 32)); }
    QByteArray target() const
    {
        return m_requestLine.mid(m_methodEnd + 1, std::min<qsizetype>(m_targetEnd - m_methodEnd - 1, 256));
    }

private:
    enum class State { Idle, RequestLine, Headers, Body, Complete, Failed };

    bool lineEnded(QByteArrayView line);
    bool requestLine(QByteArrayView line);
    bool headerLine(QByteArrayView line);
    bool headEnded();
    bool fail(int status, QString detail);

    HttpLimits m_limits;
    State m_state = State::Idle;
    ScannedRequest m_request;
    QByteArray m_line; // the line being read
    qsizetype m_headBytes = 0;
    int m_headers = 0;
    qint64 m_bodyLeft = 0;
    bool m_hasHost = false;
    bool m_hasContentLength = false;
    bool m_transferEncoding = false;
    bool m_upgrade = false;
    bool m_connectionUpgrade = false;
    bool m_connectionClose = false;
    bool m_connectionKeepAlive = false;
    QByteArray m_requestLine;
    qsizetype m_methodEnd = 0; // in m_requestLine
    qsizetype m_targetEnd = 0;
    int m_errorStatus = 0;
    QString m_errorDetail;
};

} // namespace Cachedash
