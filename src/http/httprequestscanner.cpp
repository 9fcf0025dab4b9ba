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

bool isToken(const QByteArray &text)
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

bool nameIs(const QByteArray &name, const char *expected)
{
    return name.compare(expected, Qt::CaseInsensitive) == 0;
}

// The methods whose requests go on to the routes; the routes answer 405 where one does not apply.
bool isKnownMethod(const QByteArray &method)
{
    for (const char *known : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"}) {
        if (method == known)
            return true;
    }
    return false;
}

QString printable(const QByteArray &bytes)
{
    QString text;
    for (char c : bytes.left(64)) {
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
    m_method.clear();
    m_target.clear();
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
        const qsizetype lineLength = m_line.size() + (end - i);
        if (m_state == State::RequestLine && lineLength > m_limits.maxRequestLine) {
            fail(
                414, QStringLiteral("the request line is longer than %1 bytes").arg(m_limits.maxRequestLine));
            return i;
        }
        if (m_headBytes + lineLength > m_limits.maxHeadBytes) {
            fail(431, QStringLiteral("the request head is larger than %1 bytes").arg(m_limits.maxHeadBytes));
            return i;
        }
        m_line.append(data + i, end - i);
        i = end;
        if (!newline)
            break;
        ++i; // the LF
        m_headBytes += m_line.size() + 1;
        if (!lineEnded(m_line))
            return i;
        m_line.truncate(0);
    }
    return i;
}

bool HttpRequestScanner::lineEnded(QByteArray line)
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

bool HttpRequestScanner::requestLine(const QByteArray &line)
{
    const QString shape = QStringLiteral("the request line must be METHOD SP TARGET SP HTTP/1.1");
    const qsizetype firstSpace = line.indexOf(' ');
    const qsizetype secondSpace = firstSpace > 0 ? line.indexOf(' ', firstSpace + 1) : -1;
    if (firstSpace <= 0 || secondSpace <= firstSpace + 1)
        return fail(400, shape + QStringLiteral(" (got \"%1\")").arg(printable(line)));
    const QByteArray method = line.left(firstSpace);
    const QByteArray target = line.mid(firstSpace + 1, secondSpace - firstSpace - 1);
    const QByteArray version = line.mid(secondSpace + 1);
    m_method = method.left(32);
    m_target = target.left(256);

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
                .arg(QLatin1String(version.mid(5))));
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
    m_request.path
        = pathEnd > pathStart ? target.mid(pathStart, pathEnd - pathStart) : QByteArrayLiteral("/");
    m_state = State::Headers;
    return true;
}

bool HttpRequestScanner::headerLine(const QByteArray &line)
{
    if (++m_headers > m_limits.maxHeaders)
        return fail(
            431, QStringLiteral("the request has more than %1 header lines").arg(m_limits.maxHeaders));
    if (line.startsWith(' ') || line.startsWith('\t'))
        return fail(400, QStringLiteral("header lines folded onto the next line are not accepted"));
    const qsizetype colon = line.indexOf(':');
    if (colon <= 0)
        return fail(400, QStringLiteral("a header line has no name: \"%1\"").arg(printable(line)));
    const QByteArray name = line.left(colon);
    if (!isToken(name)) {
        return fail(400,
            QStringLiteral("the header name \"%1\" has a character that is not allowed")
                .arg(printable(name)));
    }
    QByteArray value = line.mid(colon + 1);
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
        m_request.bodyLength = value.toLongLong();
    } else if (nameIs(name, "host")) {
        if (m_hasHost)
            return fail(400, QStringLiteral("Host appears more than once"));
        m_hasHost = true;
    } else if (nameIs(name, "transfer-encoding")) {
        m_transferEncoding = true;
    } else if (nameIs(name, "upgrade")) {
        m_upgrade = true;
    } else if (nameIs(name, "connection")) {
        for (const QByteArray &token : value.split(',')) {
            const QByteArray option = token.trimmed();
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
