// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

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
    };

    virtual ~HealthCheck() = default;
    virtual QCoro::Task<Status> check() = 0;
};

} // namespace Cachedash
