// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringView>

#include <chrono>
#include <optional>

namespace Cachedash {

// One limit: at most `limit` requests in any `window`. Written "5/10s", "100/1h", "1000/1d".
struct RateLimit
{
    int limit = 0;
    std::chrono::seconds window{0};

    // The bounds every algorithm computes exactly within (see the scripts' header comments).
    static constexpr int MaxLimit = 1'000'000'000;
    static constexpr std::chrono::seconds MaxWindow{86'400 * 7};

    // "5/10s", "90s", "100/1h": N/DURATION, DURATION a whole number followed by s, m, h or d.
    // A bare N takes `bareWindow` (the --rate-window form), when it is given.
    static std::optional<RateLimit> parse(
        QStringView text, std::optional<std::chrono::seconds> bareWindow, QString *error);
    // "5/10s", in the largest unit that divides the window: part of the keys of gcra and
    // sliding-window-counter.
    QString text() const;
    // "5;w=10", an item of the RateLimit-Policy header.
    QByteArray policyItem() const;

    std::chrono::milliseconds windowMs() const { return window; }

    // "5/10s, 100/1h": limits separated by commas; empty text, no limit.
    static std::optional<QList<RateLimit>> parseList(QStringView text, QString *error);
    static QString listText(const QList<RateLimit> &limits);
    friend bool operator==(const RateLimit &, const RateLimit &) = default;
};

// How the limits are counted. Each is one Lua script on Redis TIME (resources/lua/ratelimit_*.lua).
enum class RateAlgorithm {
    SlidingLog, // a sorted set of admission times per client: exact, one member per request
    Gcra, // generic cell rate algorithm: one number (the theoretical arrival time) per limit
    SlidingWindowCounter, // two fixed-window counters per limit, weighted: approximate, O(1)
};

// "sliding-log", "gcra", "sliding-window-counter".
QString algorithmName(RateAlgorithm algorithm);
std::optional<RateAlgorithm> algorithmFromName(QStringView name);

enum class RateLimitMode {
    Enforce, // refused requests get 429
    Shadow, // nothing is refused: what would have been is logged and counted apart
};

QString modeName(RateLimitMode mode); // "enforce", "shadow"
std::optional<RateLimitMode> modeFromName(QStringView name);

// A route's limits: every one must admit a request, counted by one algorithm.
struct RateLimitPolicy
{
    QList<RateLimit> limits; // empty: the route is not limited
    RateAlgorithm algorithm = RateAlgorithm::SlidingLog;
    RateLimitMode mode = RateLimitMode::Enforce;

    bool isEmpty() const { return limits.isEmpty(); }
    // "5;w=10, 100;w=3600": the RateLimit-Policy header.
    QByteArray header() const;
    // "5/10s + 100/1h, gcra" (", shadow" in shadow mode); "none" without limits.
    QString describe() const;
    // The longest window: how long a sliding log keeps its entries.
    std::chrono::milliseconds longestWindow() const;

    friend bool operator==(const RateLimitPolicy &, const RateLimitPolicy &) = default;
};

} // namespace Cachedash
