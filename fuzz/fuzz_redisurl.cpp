// SPDX-License-Identifier: GPL-3.0-or-later
// The Redis URL parser. The input is a URL as given on the command line or in REDIS_URL (UTF-8).
// Beyond "does not crash": an accepted URL is sane and shows without credentials, an error is one
// line, and neither depends on what the credentials say, so neither can repeat the password.
#include "fuzzcheck.h"
#include "redis/redisurl.h"

#include <QChar>
#include <QString>
#include <QStringList>
#include <QUrl>

#include <cstddef>
#include <cstdint>

using namespace Cachedash;

namespace {

constexpr int MaxDatabase = 1 << 20;

struct Outcome
{
    std::optional<RedisUrl> url;
    QString error;
};

Outcome parse(const QString &text)
{
    Outcome o;
    o.url = RedisUrl::parse(text, &o.error);
    return o;
}

// The input with the credentials' characters, the part between "://" and the last '@' before the
// first '/', replaced by 'x' and 'u', keeping only what shapes the URL: the first ':' (user from
// password) and '?' and '#' (refused anywhere). Returns the input when it has no credentials part.
QString withOtherCredentials(const QString &input)
{
    QString text = input.trimmed();
    const qsizetype sep = text.indexOf(QLatin1String("://"));
    if (sep <= 0)
        return input;
    const qsizetype begin = sep + 3;
    qsizetype end = text.indexOf(u'/', begin);
    if (end < 0)
        end = text.size();
    const qsizetype at = end > begin ? text.lastIndexOf(u'@', end - 1) : -1;
    if (at < begin)
        return input;
    const qsizetype colon = text.indexOf(u':', begin);
    for (qsizetype i = begin; i < at; ++i) {
        if ((colon >= 0 && i == colon) || text[i] == u'?' || text[i] == u'#')
            continue;
        text[i] = (colon >= 0 && colon < at && i < colon) ? u'u' : u'x';
    }
    return text;
}

bool isHostCharacter(QChar c)
{
    return c.isLetterOrNumber() || c == u'.' || c == u'-' || c == u'_' || c == u':';
}

void checkAccepted(const RedisUrl &url)
{
    FUZZ_CHECK(url.database >= 0 && url.database <= MaxDatabase);
    FUZZ_CHECK(!url.username.isEmpty() <= !url.password.isEmpty()); // a user only with a password
    const QString display = url.toDisplayString();
    if (url.transport == RedisUrl::Transport::Unix) {
        FUZZ_CHECK(url.socketPath.startsWith(u'/'));
        FUZZ_CHECK(url.host.isEmpty() && url.port == 0 && !url.hasCredentials() && !url.tls);
        QString expected = QStringLiteral("unix://") + url.socketPath;
        if (url.database != 0)
            expected += QStringLiteral("?db=") + QString::number(url.database);
        FUZZ_CHECK(display == expected);
        return;
    }
    FUZZ_CHECK(url.transport == RedisUrl::Transport::Tcp);
    FUZZ_CHECK(url.socketPath.isEmpty());
    FUZZ_CHECK(url.port >= 1);
    FUZZ_CHECK(!url.host.isEmpty());
    FUZZ_CHECK(url.moreHosts.size() < 64);
    QStringList hosts;
    for (const RedisUrl::Address &address : url.addresses()) {
        FUZZ_CHECK(!address.host.isEmpty() && address.port >= 1);
        for (QChar c : address.host)
            FUZZ_CHECK(isHostCharacter(c));
        const QString host = address.host.contains(u':') ? u'[' + address.host + u']' : address.host;
        hosts.append(host + u':' + QString::number(address.port));
    }
    // rediss:// and rediss+sentinel:// (TLS) show as such.
    QString expected = QStringLiteral("redis") + (url.tls ? QStringLiteral("s") : QString())
        + (url.sentinel ? QStringLiteral("+sentinel://") : QStringLiteral("://")) + hosts.join(u',');
    FUZZ_CHECK(url.sentinel != url.masterName.isEmpty());
    if (url.sentinel) {
        // The name goes into log lines: one printable word.
        for (QChar c : url.masterName)
            FUZZ_CHECK(c.isPrint() && !c.isSpace());
        expected += u'/' + QString::fromLatin1(QUrl::toPercentEncoding(url.masterName));
    }
    if (url.database != 0)
        expected += u'/' + QString::number(url.database);
    FUZZ_CHECK(display == expected);
    FUZZ_CHECK(!display.contains(u'@'));
    // What is shown is itself a URL that names the same server, without the credentials.
    RedisUrl anonymous = url;
    anonymous.username.clear();
    anonymous.password.clear();
    const Outcome shown = parse(display);
    FUZZ_CHECK(shown.url && *shown.url == anonymous);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QString input = QString::fromUtf8(reinterpret_cast<const char *>(data), qsizetype(size));
    const Outcome outcome = parse(input);
    FUZZ_CHECK(RedisUrl::parse(input) == outcome.url);

    if (outcome.url) {
        FUZZ_CHECK(outcome.error.isEmpty());
        checkAccepted(*outcome.url);
    } else {
        FUZZ_CHECK(!outcome.error.isEmpty());
        // One line on stderr: nothing invisible, no line breaks.
        for (QChar c : outcome.error)
            FUZZ_CHECK(c.isPrint() && c != QChar::LineSeparator && c != QChar::ParagraphSeparator);
    }

    // Other credentials of the same shape: the same verdict, the same error text, the same display.
    const QString other = withOtherCredentials(input);
    if (other != input) {
        const Outcome second = parse(other);
        FUZZ_CHECK(bool(second.url) == bool(outcome.url));
        if (!outcome.url) {
            FUZZ_CHECK(second.error == outcome.error);
        } else {
            FUZZ_CHECK(second.url->toDisplayString() == outcome.url->toDisplayString());
            FUZZ_CHECK(second.url->host == outcome.url->host && second.url->port == outcome.url->port
                && second.url->database == outcome.url->database);
            FUZZ_CHECK(second.url->password.isEmpty() == outcome.url->password.isEmpty());
        }
    }
    return 0;
}
