// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "outcome.h"

#include <QByteArray>
#include <QMetaType>
#include <QString>

namespace Cachedash {

// What happened to one request, for the access log and the window.
struct RequestRecord
{
    quint64 id = 0;
    qint64 startedMsSinceEpoch = 0;
    QString client;
    QByteArray method;
    QString path;
    int status = 0; // 0 while the request is still being answered
    Outcome outcome = Outcome::None;
    double latencyMs = 0;
    qint64 retryAfterSeconds = 0; // 0: none
};

} // namespace Cachedash

Q_DECLARE_METATYPE(Cachedash::RequestRecord)
