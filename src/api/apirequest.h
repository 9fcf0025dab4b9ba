// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "outcome.h"

#include "http/httprequest.h"
#include "http/httpresponse.h"

#include <QByteArray>
#include <QString>

namespace Cachedash {

// The routes, as /metrics counts them.
enum class Route : quint8 { Reports, Refresh, RateLimit, Healthz, Livez, Metrics, Other };
inline constexpr size_t RouteCount = 7;
// "reports", "refresh", ... as the metrics' route label says.
const char *routeName(Route route);

// A request as the API layer handles it: the transport's request, and what the routes need of its
// header fields, copied before the first suspension.
struct ApiRequest
{
    explicit ApiRequest(HttpRequest request)
        : http(std::move(request))
    { }

    HttpRequest http;
    QString forwardedFor; // the client a trusted proxy names, if any
    QByteArray ifNoneMatch;
    QByteArray authorization; // only read when an admin token is set
    Route route = Route::Other;
    bool answered = false;

    // Whom the limiter counts and the log names: the peer, or the client a trusted proxy names.
    const QString &client() const { return forwardedFor.isEmpty() ? http.peer : forwardedFor; }
};

// Where the handlers' answers go: written, counted, logged and shown, once per request.
class Responder
{
public:
    virtual ~Responder() = default;
    virtual void respond(ApiRequest &request, const HttpResponse &response, Outcome outcome = Outcome::None)
        = 0;
    // The request now waits for a computation (for observers that show work in progress).
    virtual void announceComputing(const ApiRequest &request) = 0;
};

} // namespace Cachedash
