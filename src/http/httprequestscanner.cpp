// SPDX-License-Identifier: GPL-3.0-or-later
#include "httprequestscanner.h"

#include <QList>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace Cachedash {

namespace {

// RFC 9110 token characters.
bool isTchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool isToken(QByteArrayView text)
{
    if (text.isEmpty())
        return false;
    for (char c : text) {
        if (!isTchar(c))
            return false;
    }
    return true;
}

bool isControl(char c)
{
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
}

bool nameIs(QByteArrayView name, const char *expected)
{
    return name.compare(QByteArrayView(expected), Qt::CaseInsensitive) == 0;
}

// The methods whose requests go on to the routes; the routes answer 405 where one does not apply.
bool isKnownMethod(QByteArrayView method)
{
    for (const char *known : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"}) {
        if (method == known)
            return true;
    }
    return false;
}

QString printable(QByteArrayView bytes)
{
    QString text;
    for (char c : bytes.first(std::min<qsizetype>(bytes.size(), 64))) {
        const auto u = static_cast<unsigned char>(c);
        text += u >= 0x20 && u < 0x7f ? QChar(QLatin1Char(c))
                                      : QStringLiteral("\\x%1").arg(u, 2, 16, QLatin1Char('0'));
    }
    if (bytes.size() > 64)
        text += QStringLiteral("...");
    return text;
}

} // namespace

HttpRequestScanner::HttpRequestScanner(HttpLimits limits)
    : m_limits(limits)
{ }

void HttpRequestScanner::next()
{
    m_state = State::Idle;
    m_request = {};
    m_line.truncate(0);
    m_headBytes = 0;
    m_headers = 0;
    m_bodyLeft = 0;
    m_hasHost = m_hasContentLength = m_transferEncoding = false;
    m_upgrade = m_connectionUpgrade = m_connectionClose = m_connectionKeepAlive = false;
    m_requestLine.clear();
    m_methodEnd = m_targetEnd = 0;
}

qsizetype HttpRequestScanner::scan(const char *data, qsizetype size)
{
    qsizetype i = 0;
    while (i < size) {
        switch (m_state) {
        case State::Complete:
        case State::Failed: return i;
        case State::Body: {
            const qsizetype take = qsizetype(std::min<qint64>(m_bodyLeft, size - i));
            i += take;
            m_bodyLeft -= take;
            if (m_bodyLeft == 0)
                m_state = State::Complete;
            continue;
        }
        case State::Idle: m_state = State::RequestLine; break;
        case State::RequestLine:
        case State::Headers: break;
        }
        const auto *newline = static_cast<const char *>(std::memchr(data + i, '\n', size_t(size - i)));
        const qsizetype end = newline ? qsizetype(newline - data) : size;
        // Whichever limit the line goes past first decides, however the stream was cut into reads.
        const qsizetype lineLength = m_line.size() + (end - i);
        const qsizetype headRoom = m_limits.maxHeadBytes - m_headBytes;
        const bool requestLineTooLong = m_state == State::RequestLine && lineLength > m_limits.maxRequestLine
            && m_limits.maxRequestLine <= headRoom;
        if (requestLineTooLong) {
            fail(
                414, QStringLiteral("the request line is longer than %1 bytes").arg(m_limits.maxRequestLine));
            return i;
        }
        if (lineLength > headRoom) {
            fail(431, QStringLiteral("the request head is larger than %1 bytes").arg(m_limits.maxHeadBytes));
            return i;
        }
        if (!newline) {
            m_line.append(data + i, end - i);
            return size;
        }
        // A line read whole is looked at where it lies; only a line split across reads is copied.
        QByteArrayView line(data + i, end - i);
        if (!m_line.isEmpty()) {
            m_line.append(line);
            line = m_line;
        }
        i = end + 1; // past the LF
        m_headBytes += line.size() + 1;
        const bool ok = lineEnded(line);
        m_line.truncate(0);
        if (!ok)
            return i;
    }
    return i;
}

bool HttpRequestScanner::lineEnded(QByteArrayView line)
{
    if (line.endsWith('\r'))
        line.chop(1);
    if (line.contains('\r'))
        return fail(400, QStringLiteral("the request head has a CR that does not end a line"));
    if (m_state == State::RequestLine)
        return line.isEmpty() || requestLine(line); // empty lines before a request are skipped
    if (!line.isEmpty())
        return headerLine(line);
    return headEnded();
}

bool HttpRequestScanner::requestLine(QByteArrayView line)
{
    const QString shape = QStringLiteral("the request line must be METHOD SP TARGET SP HTTP/1.1");
    const qsizetype firstSpace = line.indexOf(' ');
    const qsizetype secondSpace = firstSpace > 0 ? line.indexOf(' ', firstSpace + 1) : -1;
    if (firstSpace <= 0 || secondSpace <= firstSpace + 1) {
        m_requestLine = line.first(std::min<qsizetype>(line.size(), 256)).toByteArray();
        m_methodEnd = m_targetEnd = m_requestLine.size();
        return fail(400, shape + QStringLiteral(" (got \"%1\")").arg(printable(line)));
    }
    m_requestLine = line.toByteArray();
    m_methodEnd = firstSpace;
    m_targetEnd = secondSpace;
    const QByteArrayView method = line.first(firstSpace);
    const QByteArrayView target = line.sliced(firstSpace + 1, secondSpace - firstSpace - 1);
    const QByteArrayView version = line.sliced(secondSpace + 1);

    if (!isToken(method))
        return fail(
            400, shape + QStringLiteral(" (the method \"%1\" is not a token)").arg(printable(method)));
    for (char c : target) {
        if (isControl(c))
            return fail(400, QStringLiteral("the request target has a control character"));
    }
    if (version == "HTTP/1.1") {
        m_request.http10 = false;
    } else if (version == "HTTP/1.0") {
        m_request.http10 = true;
    } else if (version.size() == 8 && version.startsWith("HTTP/") && version[6] == '.'
        && std::isdigit(static_cast<unsigned char>(version[5]))
        && std::isdigit(static_cast<unsigned char>(version[7]))) {
        return fail(505,
            QStringLiteral("HTTP version %1 is not supported; use HTTP/1.1")
                .arg(printable(version.sliced(5))));
    } else {
        return fail(400, shape + QStringLiteral(" (got version \"%1\")").arg(printable(version)));
    }
    if (!isKnownMethod(method)) {
        return fail(501,
            QStringLiteral("method %1 is not supported; the API answers GET, HEAD and POST")
                .arg(printable(method)));
    }
    const bool originForm = target.startsWith('/');
    const bool absoluteForm = target.startsWith("http://") || target.startsWith("https://");
    if (!originForm && !absoluteForm)
        return fail(400, QStringLiteral("the request target must be a path such as /reports/emea"));
    qsizetype pathStart = 0;
    if (absoluteForm) {
        const qsizetype authority = target.indexOf("//") + 2;
        const qsizetype slash = target.indexOf('/', authority);
        pathStart = slash < 0 ? target.size() : slash;
    }
    qsizetype pathEnd = pathStart;
    while (pathEnd < target.size() && target[pathEnd] != '?' && target[pathEnd] != '#')
        ++pathEnd;
    m_request.path = pathEnd > pathStart ? target.sliced(pathStart, pathEnd - pathStart).toByteArray()
                                         : QByteArrayLiteral("/");
    m_state = State::Headers;
    return true;
}

bool HttpRequestScanner::headerLine(QByteArrayView line)
{
    if (++m_headers > m_limits.maxHeaders)
        return fail(
            431, QStringLiteral("the request has more than %1 header lines").arg(m_limits.maxHeaders));
    if (line.startsWith(' ') || line.startsWith('\t'))
        return fail(400, QStringLiteral("header lines folded onto the next line are not accepted"));
    const qsizetype colon = line.indexOf(':');
    if (colon <= 0)
        return fail(400, QStringLiteral("a header line has no name: \"%1\"").arg(printable(line)));
    const QByteArrayView name = line.first(colon);
    if (!isToken(name)) {
        return fail(400,
            QStringLiteral("the header name \"%1\" has a character that is not allowed")
                .arg(printable(name)));
    }
    QByteArrayView value = line.sliced(colon + 1);
    for (char c : value) {
        if (isControl(c) && c != '\t')
            return fail(400, QStringLiteral("the header %1 has a control character").arg(printable(name)));
    }
    value = value.trimmed();

    if (nameIs(name, "content-length")) {
        if (m_hasContentLength)
            return fail(400, QStringLiteral("Content-Length appears more than once"));
        m_hasContentLength = true;
        bool ok = !value.isEmpty() && value.size() <= 18;
        for (char c : value)
            ok = ok && c >= '0' && c <= '9';
        if (!ok)
            return fail(400, QStringLiteral("Content-Length must be a number of bytes"));
        qint64 length = 0;
        for (char c : value)
            length = length * 10 + (c - '0');
        m_request.bodyLength = length;
    } else if (nameIs(name, "host")) {
        if (m_hasHost)
            return fail(400, QStringLiteral("Host appears more than once"));
        m_hasHost = true;
    } else if (nameIs(name, "transfer-encoding")) {
        m_transferEncoding = true;
    } else if (nameIs(name, "upgrade")) {
        m_upgrade = true;
    } else if (nameIs(name, "connection")) {
        while (!value.isEmpty()) {
            const qsizetype comma = value.indexOf(',');
            const QByteArrayView option = (comma < 0 ? value : value.first(comma)).trimmed();
            value = comma < 0 ? QByteArrayView() : value.sliced(comma + 1);
            if (nameIs(option, "close"))
                m_connectionClose = true;
            else if (nameIs(option, "keep-alive"))
                m_connectionKeepAlive = true;
            else if (nameIs(option, "upgrade"))
                m_connectionUpgrade = true;
        }
    }
    return true;
}

bool HttpRequestScanner::headEnded()
{
    if (!m_request.http10 && !m_hasHost)
        return fail(400, QStringLiteral("an HTTP/1.1 request needs a Host header"));
    if (m_transferEncoding)
        return fail(
            411, QStringLiteral("a request body needs a Content-Length; Transfer-Encoding is not accepted"));
    if (m_upgrade && m_connectionUpgrade)
        return fail(400, QStringLiteral("protocol upgrades are not supported"));
    if (m_request.bodyLength > m_limits.maxBody) {
        return fail(413,
            QStringLiteral("the request body is %1 bytes; at most %2 are accepted")
                .arg(m_request.bodyLength)
                .arg(m_limits.maxBody));
    }
    m_request.keepAlive = m_request.http10 ? m_connectionKeepAlive && !m_connectionClose : !m_connectionClose;
    m_bodyLeft = m_request.bodyLength;
    m_state = m_bodyLeft > 0 ? State::Body : State::Complete;
    return true;
}

bool HttpRequestScanner::fail(int status, QString detail)
{
    m_state = State::Failed;
    m_errorStatus = status;
    m_errorDetail = std::move(detail);
    return false;
}

} // namespace Cachedash
