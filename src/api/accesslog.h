// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "requestrecord.h"

#include <QByteArray>
#include <QString>

namespace Cachedash {

// The path as a reader should see it in a log or the window: percent-decoded where that is valid
// UTF-8, and cut after 512 bytes.
QString displayPath(const QByteArray &rawPath);

// One access log line: "127.0.0.1 GET /reports/emea 200 HIT 0.3ms", then " Retry-After=N" when
// the answer had one.
QString accessLogLine(const RequestRecord &record);

} // namespace Cachedash
