// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QStringView>

namespace Cachedash {

// The pieces of JSON the service writes by hand on its hot paths (a report, an error's detail),
// where building a QJsonDocument per answer would cost more than the answer.

// The number as JSON writes it: the shortest form that reads back to the same double; null for
// infinities and NaN, which JSON cannot hold.
QByteArray jsonNumber(double value);
// A JSON string literal, quotes included, UTF-8.
QByteArray jsonString(QStringView text);

} // namespace Cachedash
