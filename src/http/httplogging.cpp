// SPDX-License-Identifier: GPL-3.0-or-later
#include "httplogging.h"

Q_LOGGING_CATEGORY(lcHttp, "cachedash.http", QtInfoMsg)
