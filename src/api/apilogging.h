// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QLoggingCategory>

// cachedash.api: what the routes decide: refused input, admin tokens, invalidations, overload.
Q_DECLARE_LOGGING_CATEGORY(lcApi)
// cachedash.access: the access log, one line per answered request.
Q_DECLARE_LOGGING_CATEGORY(lcAccess)
