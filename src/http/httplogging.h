// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QLoggingCategory>

// cachedash.http: the transport's connections: refusals, caps, accept errors.
Q_DECLARE_LOGGING_CATEGORY(lcHttp)
