// SPDX-License-Identifier: GPL-3.0-or-later
// The request scanner that frames and bounds every HTTP request before QHttpServer's parser sees
// it. The input is a byte stream from a client; its first byte chooses how the stream is cut into
// reads. Whatever the cuts, the scanner must find the same requests, ending at the same offsets,
// with the same properties, and refuse at the same request with the same status.
#include "fuzzcheck.h"
#include "http/httprequestscanner.h"

#include <QByteArray>
#include <QList>

#include <cstddef>
#include <cstdint>

using namespace Cachedash;

namespace {

struct Event
{
    qsizetype end = 0; // offset just past the request; -1 for a refusal
    int status = 0; // 0: a complete request
    QByteArray path;
    bool http10 = false;
    bool keepAlive = false;
    qint64 bodyLength = 0;

    bool operator==(const Event &) const = default;
};

// Scans the stream cut into reads of the given sizes (cycled); stops at a refusal.
QList<Event> scanStream(const QByteArray &stream, const QList<qsizetype> &cuts, const HttpLimits &limits)
{
    HttpRequestScanner scanner(limits);
    QList<Event> events;
    qsizetype at = 0;
    qsizetype requestStart = 0;
    int cut = 0;
    while (at < stream.size()) {
        const qsizetype size = std::min(cuts[cut++ % cuts.size()], stream.size() - at);
        qsizetype offset = 0;
        while (offset < size) {
            const qsizetype consumed = scanner.scan(stream.constData() + at + offset, size - offset);
            FUZZ_CHECK(consumed >= 0 && consumed <= size - offset);
            offset += consumed;
            if (scanner.failed()) {
                const int s = scanner.errorStatus();
                FUZZ_CHECK(s == 400 || s == 408 || s == 411 || s == 413 || s == 414 || s == 431 || s == 501
                    || s == 505);
                FUZZ_CHECK(!scanner.errorDetail().isEmpty());
                FUZZ_CHECK(!scanner.errorDetail().contains(QLatin1Char('\n')));
                // Where in the read a refusal comes depends on the cut (an overlong line is refused
                // as soon as it is seen to be too long): only the status is compared.
                events.append(Event{-1, s, {}, false, false, 0});
                return events;
            }
            if (scanner.complete()) {
                const ScannedRequest &r = scanner.request();
                FUZZ_CHECK(r.path.startsWith('/'));
                FUZZ_CHECK(r.bodyLength >= 0 && r.bodyLength <= limits.maxBody);
                // A request never spans more than its bounded head and body (blank lines before it
                // count against the head).
                const qsizetype length = at + offset - requestStart;
                FUZZ_CHECK(length <= limits.maxHeadBytes + r.bodyLength + 1);
                events.append(Event{at + offset, 0, r.path, r.http10, r.keepAlive, r.bodyLength});
                scanner.next();
                FUZZ_CHECK(!scanner.inRequest());
                requestStart = at + offset;
            } else {
                FUZZ_CHECK(offset == size); // an unfinished request takes the whole read
            }
        }
        at += size;
    }
    return events;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    // Small limits, so that the fuzzer reaches every refusal quickly.
    HttpLimits limits;
    limits.maxRequestLine = 96;
    limits.maxHeadBytes = 256;
    limits.maxHeaders = 8;
    limits.maxBody = 64;

    const QByteArray stream(reinterpret_cast<const char *>(data) + 1, qsizetype(size) - 1);
    const QList<Event> whole = scanStream(stream, {stream.size() + 1}, limits);
    const QList<Event> bytewise = scanStream(stream, {1}, limits);
    const qsizetype a = (data[0] & 0x0f) + 1;
    const qsizetype b = (data[0] >> 4) + 2;
    const QList<Event> cut = scanStream(stream, {a, b, 3 * a + b}, limits);
    FUZZ_CHECK(whole == bytewise);
    FUZZ_CHECK(whole == cut);
    return 0;
}
