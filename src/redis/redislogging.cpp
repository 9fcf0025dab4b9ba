// SPDX-License-Identifier: GPL-3.0-or-later
#include "redislogging.h"

Q_LOGGING_CATEGORY(lcRedis, "cachedash.redis", QtInfoMsg)
