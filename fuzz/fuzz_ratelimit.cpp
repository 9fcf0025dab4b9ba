// SPDX-License-Identifier: GPL-3.0-or-later
// The rate-limit syntax of --rate-limit, the config file and the Settings dialog: "5/10s, 100/1h".
// Whatever parses is within bounds, writes itself back as text that parses to the same limit, and
// names its window in whole seconds for RateLimit-Policy.
#include "fuzzcheck.h"
#include "ratelimit/ratelimitpolicy.h"

#include <QString>

#include <cstddef>
#include <cstdint>

using namespace Cachedash;
using namespace std::chrono_literals;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QString text = QString::fromUtf8(reinterpret_cast<const char *>(data), qsizetype(size));
    QString error;
    const auto limits = RateLimit::parseList(text, &error);
    FUZZ_CHECK(limits.has_value() == error.isEmpty());
    if (limits) {
        for (const RateLimit &l : *limits) {
            FUZZ_CHECK(l.limit >= 1 && l.limit <= RateLimit::MaxLimit);
            FUZZ_CHECK(l.window >= 1s && l.window <= RateLimit::MaxWindow);
            QString again;
            const auto reparsed = RateLimit::parse(l.text(), std::nullopt, &again);
            FUZZ_CHECK(reparsed && *reparsed == l);
            FUZZ_CHECK(l.policyItem()
                == QByteArray::number(l.limit) + ";w=" + QByteArray::number(qint64(l.window.count())));
        }
        const auto listed = RateLimit::parseList(RateLimit::listText(*limits), &error);
        FUZZ_CHECK(listed && *listed == *limits);
    }
    // A bare number takes the window it is given.
    const auto bare = RateLimit::parse(text, 7s, &error);
    if (bare && !text.contains(u'/'))
        FUZZ_CHECK(bare->window == 7s);
    return 0;
}
