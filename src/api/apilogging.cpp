// SPDX-License-Identifier: GPL-3.0-or-later
#include "apilogging.h"

Q_LOGGING_CATEGORY(lcApi, "cachedash.api", QtInfoMsg)
Q_LOGGING_CATEGORY(lcAccess, "cachedash.access", QtInfoMsg)
