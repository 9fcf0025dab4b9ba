// SPDX-License-Identifier: GPL-3.0-or-later
#include "ratelimitendpoints.h"

#include "apilogging.h"

#include "common/json.h"
#include "http/addressranges.h"
#include "http/clientidentity.h"
#include "http/httpresponse.h"
#include "ratelimit/slidingwindowlimiter.h"

#include <QHostAddress>

using namespace std::chrono;

namespace Cachedash {

RateLimitEndpoints::RateLimitEndpoints(
    SlidingWindowLimiter &limiter, const AddressRanges &exempt, Responder &responder)
    : m_limiter(limiter)
    , m_exempt(exempt)
    , m_responder(responder)
{ }

std::optional<QString> RateLimitEndpoints::parseClient(const QByteArray &segment, QString *why)
{
    const QByteArray text = QByteArray::fromPercentEncoding(segment);
    QHostAddress address;
    if (text.isEmpty() || text.size() > 64 || !address.setAddress(QString::fromLatin1(text))
        || !address.scopeId().isEmpty()) {
        *why = QStringLiteral("a client is an IPv4 or IPv6 address, such as 198.51.100.7 or 2001:db8::1");
        return std::nullopt;
    }
    return ClientIdentity::normalized(address).toString();
}

QCoro::Task<> RateLimitEndpoints::peek(ApiRequest request, QString client)
{
    QCoro::Task<RateLimitState> reading = m_limiter.peek(client);
    const RateLimitState state = co_await reading;
    if (state.failed) {
        qCWarning(lcApi).noquote() << "cannot read the window of" << client << "-" << state.problem;
        m_responder.respond(request,
            HttpResponse::error(503, QStringLiteral("the limiter cannot be read now: ") + state.problem));
        co_return;
    }
    const bool exempt = !m_exempt.isEmpty() && m_exempt.contains(QHostAddress(client));
    const qint64 reset = state.nextSlot > 0ms ? ceil<seconds>(state.nextSlot).count() : 0;
    const QByteArray body = "{\"client\":" + jsonString(client)
        + ",\"key\":" + jsonString(QString::fromUtf8(SlidingWindowLimiter::keyFor(client)))
        + ",\"algorithm\":\"sliding-log\",\"exempt\":" + (exempt ? "true" : "false")
        + ",\"limits\":[{\"limit\":" + QByteArray::number(state.limit)
        + ",\"window\":" + QByteArray::number(duration_cast<seconds>(state.window).count())
        + ",\"used\":" + QByteArray::number(state.used)
        + ",\"remaining\":" + QByteArray::number(state.remaining) + ",\"reset\":" + QByteArray::number(reset)
        + ",\"next_slot_ms\":" + QByteArray::number(qint64(state.nextSlot.count())) + "}]}";
    m_responder.respond(request, HttpResponse::json(200, body));
}

QCoro::Task<> RateLimitEndpoints::reset(ApiRequest request, QString client)
{
    QCoro::Task<SlidingWindowLimiter::ResetResult> resetting = m_limiter.reset(client);
    const SlidingWindowLimiter::ResetResult result = co_await resetting;
    if (result.failed) {
        qCWarning(lcApi).noquote() << "cannot reset the window of" << client << "-" << result.problem;
        m_responder.respond(request,
            HttpResponse::error(503, QStringLiteral("the limiter cannot be reset now: ") + result.problem));
        co_return;
    }
    m_responder.respond(request,
        HttpResponse::json(200,
            "{\"client\":" + jsonString(client)
                + ",\"reset\":true,\"existed\":" + (result.existed ? "true" : "false") + '}'));
}

} // namespace Cachedash
