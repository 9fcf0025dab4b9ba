// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QLoggingCategory>

// cachedash.app: what the window observes: keyspace notifications, the event loop's lateness.
Q_DECLARE_LOGGING_CATEGORY(lcApp)
