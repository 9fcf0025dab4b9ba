// SPDX-License-Identifier: GPL-3.0-or-later
#include "keyslot.h"

#include <array>

namespace Cachedash {

namespace {

constexpr std::array<quint16, 256> crcTable()
{
    std::array<quint16, 256> table{};
    for (int byte = 0; byte < 256; ++byte) {
        quint16 crc = quint16(byte << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = quint16((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
        table[size_t(byte)] = crc;
    }
    return table;
}

constexpr std::array<quint16, 256> CrcTable = crcTable();

} // namespace

quint16 crc16(QByteArrayView data)
{
    quint16 crc = 0;
    for (char c : data)
        crc = quint16((crc << 8) ^ CrcTable[((crc >> 8) ^ uchar(c)) & 0xff]);
    return crc;
}

int keySlot(QByteArrayView key)
{
    const qsizetype open = key.indexOf('{');
    if (open >= 0) {
        const qsizetype close = key.indexOf('}', open + 1);
        if (close > open + 1)
            key = key.sliced(open + 1, close - open - 1);
    }
    return crc16(key) % ClusterSlots;
}

} // namespace Cachedash
