// SPDX-License-Identifier: GPL-3.0-or-later
#include "ratelimitlogging.h"

Q_LOGGING_CATEGORY(lcRateLimit, "cachedash.ratelimit", QtInfoMsg)
