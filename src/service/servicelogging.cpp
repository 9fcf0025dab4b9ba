// SPDX-License-Identifier: GPL-3.0-or-later
#include "servicelogging.h"

Q_LOGGING_CATEGORY(lcService, "cachedash.service", QtInfoMsg)
