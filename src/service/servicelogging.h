// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QLoggingCategory>

// cachedash.service: start, stop, the private Redis, settings, signals.
Q_DECLARE_LOGGING_CATEGORY(lcService)
