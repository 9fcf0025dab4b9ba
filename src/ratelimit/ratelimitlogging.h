// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QLoggingCategory>

// cachedash.ratelimit: the limiter's outages and recoveries.
Q_DECLARE_LOGGING_CATEGORY(lcRateLimit)
