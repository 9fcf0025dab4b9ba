// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QJsonObject>
#include <QString>

#include <qcoro/qcorotask.h>

namespace Cachedash {

// What GET /healthz asks: whether the store behind the service answers. The service provides one
// over its Redis connection; the API does not know what answers.
class HealthCheck
{
public:
    struct Status
    {
        bool up = false;
        QString detail; // why not, when down
        QString state; // "up", "down", or "partial" (some parts answer); from `up` when empty
        QJsonObject details; // more to say, as members of the answer ("mode", "nodes")
    };

    virtual ~HealthCheck() = default;
    virtual QCoro::Task<Status> check() = 0;
};

} // namespace Cachedash
