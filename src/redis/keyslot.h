// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArrayView>

namespace Cachedash {

// Redis Cluster's 16,384 hash slots.
inline constexpr int ClusterSlots = 16384;

// The hash slot of a key, as Redis Cluster computes it: CRC16 (XMODEM) of the key, modulo 16384,
// over the text between the first '{' and the next '}' when that text is not empty (a hash tag).
// So "{report:emea}:lease" shares the slot of "report:emea", and a script's keys can be made to
// live on one node.
int keySlot(QByteArrayView key);

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum keySlot() uses.
quint16 crc16(QByteArrayView data);

} // namespace Cachedash
